"""Challenge submissions: round trip, read errors naming the record, offline checker and its CLI."""
from __future__ import annotations

import json

import pytest

from vtkit.annotations import load_annotations
from vtkit.cli import main
from vtkit.errors import VtkitError
from vtkit.io import write_json
from vtkit.submission import CHALLENGE, check_submission, read_predictions, write_submission

VALID = {
    "version": "1.0", "split": "val", "videos": [
        {"video_uid": "vid-a", "start_time": 10.0, "end_time": 70.0, "goal_category": "COOKING:X",
         "goal_description": "make x", "segments": [
             {"start_time": 10.0, "end_time": 30.0, "step_description": "cut", "is_relevant": "essential",
              "segments": [{"start_time": 10.0, "end_time": 20.0, "step_description": "hold knife"}]},
             {"start_time": 30.0, "end_time": 70.0, "step_description": "fry", "is_relevant": "optional",
              "segments": []}]},
        {"video_uid": "vid-b", "start_time": 0.0, "end_time": 40.0, "goal_category": None,
         "goal_description": None, "segments": [
             {"start_time": 0.0, "end_time": 40.0, "step_description": "wash", "segments": []}]}]}
TEST = {"videos": [{"video_uid": "vid-t", "step_segments": [{"step_description": "a", "segment_count": 1},
                                                             {"step_description": "b", "segment_count": 2}]}]}


@pytest.fixture
def ann(tmp_path):
    return load_annotations(write_json(tmp_path / "ann.json", VALID))


def full_predictions(ann):
    return {q.key: [(q.start + i, q.end + i) for i in range(5)] for q in ann.queries()}


def test_round_trip(ann, tmp_path):
    preds = full_predictions(ann)
    path = write_submission(tmp_path / "sub.json", preds)
    data = json.loads(path.read_text())
    assert data["version"] == "1.0" and data["challenge"] == CHALLENGE
    assert data["results"][0] == {"clip_uid": "vid-a", "annotation_uid": "vid-a_10.0_70.0", "query_idx": 0,
                                  "predicted_times": [[10.0 + i, 30.0 + i] for i in range(5)]}
    assert read_predictions(path, ann) == preds
    assert check_submission(path, ann) == []


def _write(tmp_path, results, **top):
    data = {"version": "1.0", "challenge": CHALLENGE, "results": results, **top}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))   # not write_json: these files hold what the kit never writes (NaN, inf)
    return path


def _records(ann):
    return [{"clip_uid": q.video_uid, "annotation_uid": q.annotation_uid, "query_idx": q.query_idx,
             "predicted_times": [[q.start, q.end]] * 5} for q in ann.queries()]


@pytest.mark.parametrize("change, message", [
    (lambda r: r[1].update(query_idx=99), r"results\[1\] .*query_idx=99.*unknown query"),
    (lambda r: r[2].pop("predicted_times"), r"results\[2\].*predicted_times missing"),
    (lambda r: r[0].update(predicted_times=[[1.0, 2.0]] * 3), r"results\[0\].*3 predicted windows, expected 5"),
    (lambda r: r[3].update(predicted_times=[[5.0, 2.0]] * 5), r"results\[3\].*starts after it ends"),
    (lambda r: r[3].update(predicted_times=[[2.0, 2.0]] * 5), r"results\[3\].*\[2.0, 2.0\].*start < end required"),
    (lambda r: r[0].update(predicted_times=[[1.0, float("inf")]] * 5), r"results\[0\].*not finite"),
    (lambda r: r[0].pop("clip_uid"), r"results\[0\].*clip_uid missing"),
])
def test_read_predictions_names_the_bad_record(ann, tmp_path, change, message):
    records = _records(ann)
    change(records)
    path = _write(tmp_path, records)
    with pytest.raises(VtkitError, match=message) as err:
        read_predictions(path, ann)
    assert "\n" not in str(err.value)


def test_checker_lists_every_problem(ann, tmp_path):
    records = _records(ann)
    records[0]["predicted_times"] = [[1.0, 1.0]] + [[1.0, 2.0]] * 4      # start == end
    records[1]["predicted_times"] = [[1.0, 2.0]] * 6                     # too many
    records.append(dict(records[2]))                                     # answered twice
    records.append({**records[2], "clip_uid": "nope"})                   # unknown
    del records[3]                                                        # vid-b never answered
    path = _write(tmp_path, records, version="2.0", challenge="other")
    problems = check_submission(path, ann, video_lengths={"vid-a": 50.0})
    text = "\n".join(problems)
    assert "version must be '1.0'" in text
    assert "challenge must be" in text
    assert "start < end" in text
    assert "6 predicted windows, expected 5" in text
    assert "already answered by results[2]" in text
    assert "unknown query" in text
    assert "1 of 4 queries have no answer (e.g. vid-b/0)" in text
    assert "outside the video [0, 50.0]" in text        # step 1 ends at 70 s


@pytest.mark.parametrize("window", [[2.0, 2.0], [5.0, 2.0]])
def test_reader_and_checker_apply_one_window_rule(ann, tmp_path, window):
    records = _records(ann)
    records[3]["predicted_times"] = [[0.0, 1.0]] * 4 + [window]
    path = _write(tmp_path, records)
    with pytest.raises(VtkitError) as err:
        read_predictions(path, ann)
    expected = (f"results[3] (clip_uid='vid-b', annotation_uid='vid-b_0.0_40.0', query_idx=0): predicted_times[4] "
                f"is empty or starts after it ends: {window} (start < end required)")
    assert str(err.value) == f"{path}: {expected}"
    assert check_submission(path, ann) == [expected]


def test_checker_on_unreadable_file(ann, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    assert "not valid JSON" in check_submission(bad, ann)[0]
    assert check_submission(write_json(tmp_path / "x.json", {"version": "1.0", "challenge": CHALLENGE}), ann) == [
        "results missing or not a list"]


def test_cli_check_submission(ann, tmp_path, capsys):
    good = write_submission(tmp_path / "good.json", full_predictions(ann))
    assert main(["check-submission", str(good), str(ann.path)]) == 0
    assert capsys.readouterr().out.strip() == "OK: 4 queries"
    lengths = write_json(tmp_path / "len.json", {"vid-a": 20.0})
    assert main(["check-submission", str(good), str(ann.path), "--video-lengths", str(lengths)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 + 4 + 5 and all("outside the video [0, 20.0]" in line for line in out)
    unknown = [{"clip_uid": "x", "annotation_uid": "x", "query_idx": i, "predicted_times": [[0, 1]] * 5}
               for i in range(25)]
    bad = _write(tmp_path, _records(ann) + unknown)
    assert main(["check-submission", str(bad), str(ann.path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 21 and out[-1] == "... and 5 more problems"


def test_partial_submission_needs_only_its_videos_complete(ann, tmp_path, capsys):
    only_a = {key: windows for key, windows in full_predictions(ann).items() if key[0] == "vid-a"}
    path = write_submission(tmp_path / "a.json", only_a)
    assert check_submission(path, ann) == ["1 of 4 queries have no answer (e.g. vid-b/0)"]
    assert check_submission(path, ann, partial=True) == []
    assert main(["check-submission", str(path), str(ann.path), "--partial"]) == 0
    assert capsys.readouterr().out.strip() == "OK: 3 queries of 1 videos (partial)"
    assert main(["check-submission", str(path), str(ann.path)]) == 1
    assert capsys.readouterr().out.strip() == "1 of 4 queries have no answer (e.g. vid-b/0)"

    # a video that appears must still be complete: vid-a's step "fry" (query 2) is left out
    records = [r for r in _records(ann) if r["clip_uid"] == "vid-a" and r["query_idx"] != 2]
    path = _write(tmp_path, records)
    assert check_submission(path, ann, partial=True) == [
        "1 of 3 queries of the answered videos have no answer (e.g. vid-a/2)"]
    assert main(["check-submission", str(path), str(ann.path), "--partial"]) == 1
    capsys.readouterr()
    # the other checks still apply, and an empty partial submission answers nothing
    records = _records(ann)[3:] + [{**_records(ann)[3], "query_idx": 5}]
    assert check_submission(_write(tmp_path, records), ann, partial=True) == [
        "results[1] (clip_uid='vid-b', annotation_uid='vid-b_0.0_40.0', query_idx=5): unknown query"]
    assert check_submission(_write(tmp_path, []), ann, partial=True) == ["no query of the annotations is answered"]


def test_test_split_ids(tmp_path, capsys):
    ann = load_annotations(write_json(tmp_path / "test.json", TEST))
    preds = {("vid-t", "vid-t", i): [(0.0, 1.0)] * 5 for i in range(2)}
    path = write_submission(tmp_path / "sub.json", preds)
    assert check_submission(path, ann) == []
    assert main(["check-submission", str(path), str(ann.path)]) == 0
    assert capsys.readouterr().out.strip() == "OK: 2 queries"


def test_real_test_split_checker(goalstep_test, tmp_path):
    ann = load_annotations(goalstep_test)
    preds = {q.key: [(0.0, 2.0)] * 5 for q in ann.queries()}
    path = write_submission(tmp_path / "sub.json", preds)
    assert check_submission(path, ann) == []
    preds.pop(next(iter(preds)))
    assert "have no answer" in check_submission(write_submission(path, preds), ann)[0]
