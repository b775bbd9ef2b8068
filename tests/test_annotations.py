import json

import pytest

from vtkit.annotations import load_annotations, summarize
from vtkit.cli import main
from vtkit.errors import VtkitError


def _write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _video(uid="v1", start=10.0, end=100.0, steps=None):
    return {"video_uid": uid, "start_time": start, "end_time": end, "goal_category": "COOKING:X",
            "goal_description": "make x", "segments": steps if steps is not None else []}


def _step(start, end, text="do it", subs=(), relevant="essential"):
    return {"start_time": start, "end_time": end, "step_category": "G: N", "step_description": text,
            "is_continued": False, "is_procedural": True, "is_relevant": relevant, "summary": [],
            "segments": list(subs)}


def test_query_order_and_official_ids(tmp_path):
    sub_a, sub_b = _step(12.0, 14.0, "sub a"), _step(14.0, 18.0, "sub b")
    data = {"version": "1.0", "split": "val",
            "videos": [_video(steps=[_step(11.0, 20.0, "one", [sub_a, sub_b]), _step(25.5, 40.0, "two")])]}
    ann = load_annotations(_write(tmp_path, data))
    qs = ann.queries()
    assert [(q.query_idx, q.level, q.description) for q in qs] == [
        (0, "step", "one"), (1, "substep", "sub a"), (2, "substep", "sub b"), (3, "step", "two")]
    assert qs[0].annotation_uid == "v1_10.0_100.0"
    assert qs[1].parent_query_idx == 0 and qs[2].step_index == 0 and qs[3].step_index == 1
    assert qs[3].chunk_span(2.0) == (12, 19)
    assert ann.video("v1").substeps_of(qs[0]) == qs[1:3]
    assert set(ann.key_index()) == {("v1", "v1_10.0_100.0", i) for i in range(4)}


def test_messy_cases_are_kept_and_counted(tmp_path):
    steps = [_step(5.0, 30.0, "outside goal"), _step(25.0, 40.0, "overlap", [_step(39.0, 45.0, "sub out")]),
             _step(20.0, 22.0, "out of order"), _step(50.0, 60.0, "outside goal")]
    del steps[2]["is_relevant"]
    ann = load_annotations(_write(tmp_path, {"videos": [_video(steps=steps)]}))
    assert len(ann.queries()) == 5
    issues = ann.issues
    assert issues["steps partly outside their goal segment (kept)"] == 1
    assert issues["consecutive step pairs overlapping (kept)"] == 2  # the out-of-order step overlaps too
    assert issues["substeps partly outside their parent step (kept)"] == 1
    assert issues["steps starting before the previous step (kept in file order)"] == 1
    assert issues["steps without is_* fields (relevance unlabelled)"] == 1
    assert summarize(ann)["queries_sharing_text_in_video"] == 2


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["videos"][0]["segments"][0].update(end_time=1.0), "segments[0].end_time"),
    (lambda d: d["videos"][0]["segments"][0].update(start_time=-3.0), "segments[0].start_time"),
    (lambda d: d["videos"][0]["segments"][0].update(start_time="12"), "segments[0].start_time"),
    (lambda d: d["videos"][0]["segments"][0].pop("step_description"), "segments[0].step_description"),
    (lambda d: d["videos"][0]["segments"][0].update(is_relevant="maybe"), "segments[0].is_relevant"),
    (lambda d: d["videos"][0].pop("video_uid"), "videos[0].video_uid"),
    (lambda d: d["videos"].append(d["videos"][0]), "videos[1].video_uid"),
    (lambda d: d.update(videos={}), "videos"),
])
def test_bad_records_name_file_and_field(tmp_path, mutate, field):
    data = {"videos": [_video(steps=[_step(11.0, 20.0)])]}
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(VtkitError) as err:
        load_annotations(path)
    msg = str(err.value)
    assert str(path) in msg and field in msg and "\n" not in msg


def test_truncated_json_is_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"videos": [{"video_uid": "a", ')
    with pytest.raises(VtkitError, match="not valid JSON"):
        load_annotations(path)


def test_test_split_format(tmp_path):
    data = {"videos": [{"video_uid": "grp-x", "step_segments": [
        {"step_description": "a", "segment_count": 2}, {"step_description": "b", "segment_count": 1}]}]}
    ann = load_annotations(_write(tmp_path, data))
    assert not ann.has_times
    q = ann.queries()
    assert [(x.annotation_uid, x.query_idx, x.segment_count) for x in q] == [("grp-x", 0, 2), ("grp-x", 1, 1)]
    with pytest.raises(VtkitError):
        q[0].chunk_span()


def test_real_val_counts(goalstep_valid):
    ann = load_annotations(goalstep_valid)
    s = summarize(ann)
    assert (s["videos"], s["steps"], s["substeps"], s["queries"]) == (134, 3349, 4347, 7696)
    assert s["hours"] == pytest.approx(62.3, abs=0.1)
    assert s["grouped_videos"] == 33
    issues = ann.issues
    assert issues["steps partly outside their goal segment (kept)"] == 31
    assert issues["substeps partly outside their parent step (kept)"] == 261
    assert issues["consecutive step pairs overlapping (kept)"] == 60
    assert issues["steps starting before the previous step (kept in file order)"] == 2
    assert issues["steps without is_* fields (relevance unlabelled)"] == 1
    assert s["queries_sharing_text_in_video"] / s["queries"] == pytest.approx(0.44, abs=0.01)
    v = ann.videos[0]
    assert v.queries[0].annotation_uid == f"{v.video_uid}_{v.start_time}_{v.end_time}"


def test_real_test_split(goalstep_test):
    s = summarize(load_annotations(goalstep_test))
    assert s["queries"] == 5540 and s["segments"] == 8459


def test_inspect_cli_json(goalstep_valid, capsys):
    assert main(["inspect", str(goalstep_valid), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("videos", "steps", "substeps")} == {"videos": 134, "steps": 3349, "substeps": 4347}
    assert out["hours"] > 60


def test_inspect_cli_bad_file_is_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing.json" in err and len(err.splitlines()) == 1
