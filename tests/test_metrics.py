"""Metrics: hand-computed IoU and recall (strict thresholds), breakdowns, recall curve, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vtkit.annotations import Query
from vtkit.cli import main
from vtkit.metrics import (duration_bucket, duration_buckets, format_table, iou, query_hits, recall_curve, score,
                           text_recurs)
from vtkit.submission import write_submission


def q(idx, start, end, level="step", relevant="essential"):
    return Query("vid", "vid_0.0_100.0", idx, level, f"query {idx}", start, end, 0, is_relevant=relevant)


def test_iou_hand_computed():
    assert iou((0, 4), (2, 6)) == pytest.approx(2 / 6)
    assert iou((2, 6), (0, 4)) == pytest.approx(2 / 6)
    assert iou((0, 10), (0, 10)) == 1.0
    assert iou((1, 2), (0, 10)) == pytest.approx(0.1)
    # disjoint: the plain union would be 2 and the hull 3; the intersection is 0 either way
    assert iou((0, 1), (2, 3)) == 0.0
    assert iou((0, 1), (1, 2)) == 0.0           # touching
    assert iou((5, 5), (5, 5)) == 0.0           # empty hull


def test_iou_vectorised_matches_scalar():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 10, size=(50, 2)), axis=1)
    b = np.sort(rng.uniform(0, 10, size=(50, 2)), axis=1)
    out = iou(a, b)
    assert out.shape == (50,)
    assert np.allclose(out, [iou(x, y) for x, y in zip(a, b)])
    assert iou((0, 4), np.array([[2, 6], [0, 4]])).tolist() == pytest.approx([1 / 3, 1.0])


def test_recall_is_strictly_above_threshold():
    queries = [q(0, 0.0, 10.0), q(1, 0.0, 10.0), q(2, 0.0, 10.0), q(3, 0.0, 10.0)]
    preds = {
        queries[0].key: [(0.0, 3.0)],                      # IoU exactly 0.3: not a hit at 0.3
        queries[1].key: [(0.0, 5.0)],                      # exactly 0.5: hit at 0.3, not at 0.5
        queries[2].key: [(20.0, 30.0), (0.0, 6.0)],        # top-1 misses, top-2 IoU 0.6
        # queries[3] has no prediction: a miss
    }
    r = score(preds, queries)
    assert r["R1@0.3"] == 0.25
    assert r["R1@0.5"] == 0.0
    assert r["R5@0.3"] == 0.5
    assert r["R5@0.5"] == 0.25
    assert r["mIoU"] == pytest.approx((0.3 + 0.5 + 0.0 + 0.0) / 4)
    assert r["queries"] == 4


def test_only_first_k_windows_count():
    query = q(0, 0.0, 10.0)
    preds = {query.key: [(50.0, 60.0)] * 5 + [(0.0, 10.0)]}    # the 6th window is ignored
    r = score(preds, [query])
    assert r["R5@0.3"] == 0.0


def test_breakdowns_by_level_and_relevance():
    queries = [q(0, 0.0, 10.0, "step", "essential"), q(1, 0.0, 10.0, "substep", "optional"),
               q(2, 0.0, 10.0, "substep", None)]
    preds = {queries[0].key: [(0.0, 10.0)], queries[1].key: [(40.0, 50.0)], queries[2].key: [(0.0, 10.0)]}
    r = score(preds, queries)
    assert r["by_level"]["step"]["R1@0.5"] == 1.0
    assert r["by_level"]["substep"]["R1@0.5"] == 0.5
    assert r["by_level"]["substep"]["queries"] == 2
    assert r["by_relevance"]["optional"]["R1@0.3"] == 0.0
    assert r["by_relevance"]["unlabelled"]["R1@0.3"] == 1.0
    assert set(score(preds, queries, breakdown=False)) == {"R1@0.3", "R1@0.5", "R5@0.3", "R5@0.5", "mIoU",
                                                          "queries"}


def test_breakdown_by_duration_per_level():
    queries = [q(0, 0.0, 1.5), q(1, 10.0, 12.0), q(2, 20.0, 23.9), q(3, 30.0, 31.0, "substep"),
               q(4, 40.0, 80.0, "substep"), q(5, 90.0, 100.0, "substep")]
    hit = {0, 2, 4}
    preds = {x.key: [(x.start, x.end)] if x.query_idx in hit else [(200.0, 210.0)] for x in queries}
    r = score(preds, queries)["by_duration"]
    assert list(r) == ["step", "substep"]
    assert list(r["step"]) == ["<2 s", "2-4 s"]                       # 2.0 s opens the second bucket
    assert (r["step"]["<2 s"]["queries"], r["step"]["2-4 s"]["queries"]) == (1, 2)
    assert (r["step"]["<2 s"]["R1@0.3"], r["step"]["2-4 s"]["R1@0.3"]) == (1.0, 0.5)
    assert list(r["substep"]) == ["<2 s", "8-16 s", ">=32 s"]          # in duration order, empty buckets left out
    assert [r["substep"][b]["R1@0.3"] for b in r["substep"]] == [0.0, 0.0, 1.0]
    assert duration_buckets() == ["<2 s", "2-4 s", "4-8 s", "8-16 s", "16-32 s", ">=32 s"]
    assert [duration_bucket(x) for x in (0.0, 4.0, 31.99, 32.0)] == ["<2 s", "4-8 s", "16-32 s", ">=32 s"]
    assert "substep >=32 s" in format_table(score(preds, queries))


def test_breakdown_by_recurrence_per_level():
    def named(idx, text, level="step", annotation="vid_0.0_100.0"):
        return Query("vid", annotation, idx, level, text, 10.0 * idx, 10.0 * idx + 5, 0)

    queries = [named(0, "stir"), named(1, "Stir "), named(2, "fry"), named(3, "fry", "substep"),   # recurs, recurs
               named(4, "stir", "substep"), named(5, "fry", annotation="vid_100.0_200.0"),         # no: each alone
               named(6, "cut", "substep"), named(7, "cut", "substep"), named(8, "cut", "substep")]
    want = [True, True, False, False, False, False, True, True, True]
    assert text_recurs(queries).tolist() == want
    hit = {0, 2, 6, 7}
    preds = {x.key: [(x.start, x.end)] if x.query_idx in hit else [(500.0, 510.0)] for x in queries}
    r = score(preds, queries)["by_recurrence"]
    for level in ("step", "substep"):   # against a plain count per group
        for name, flag in (("unique", False), ("repeated", True)):
            group = [x for x, w in zip(queries, want) if x.level == level and w == flag]
            assert r[level][name]["queries"] == len(group)
            assert r[level][name]["R1@0.3"] == sum(x.query_idx in hit for x in group) / len(group)
    assert r["substep"]["repeated"]["R1@0.3"] == pytest.approx(2 / 3) and r["step"]["unique"]["R1@0.3"] == 0.5
    assert "substep repeated" in format_table(score(preds, queries))


def test_recall_curve_matches_score():
    queries = [q(i, 0.0, 10.0) for i in range(4)]
    preds = {qq.key: [(0.0, 2.0 + 2 * i)] for i, qq in enumerate(queries)}   # IoU 0.2, 0.4, 0.6, 0.8
    curve = recall_curve(preds, queries, thresholds=[0.1, 0.3, 0.5, 0.7, 0.9])
    assert curve["R1"].tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert curve["R1"][1] == score(preds, queries)["R1@0.3"]


def test_query_hits_are_what_score_counts():
    queries = [q(0, 0.0, 10.0), q(1, 0.0, 10.0), q(2, 0.0, 10.0), q(3, 0.0, 10.0)]
    preds = {queries[0].key: [(0.0, 3.0)], queries[1].key: [(0.0, 5.0)],
             queries[2].key: [(20.0, 30.0), (0.0, 6.0)]}                # IoU 0.3 (not a hit), 0.5, top-2 0.6
    assert query_hits(preds, queries).tolist() == [False, True, False, False]
    assert query_hits(preds, queries, k=5, threshold=0.5).tolist() == [False, False, True, False]
    for k, t in ((1, 0.3), (1, 0.5), (5, 0.3), (5, 0.5)):
        assert query_hits(preds, queries, k, t).mean() == score(preds, queries)[f"R{k}@{t:g}"]


def test_unlabelled_queries_cannot_be_scored():
    from vtkit.errors import VtkitError

    with pytest.raises(VtkitError, match="no times"):
        score({}, [Query("v", "v", 0, "step", "x", None, None, 0)])


def _shifted_predictions(queries):
    """Top-1 windows with a known IoU per query (by position mod 4), padded to 5 windows."""
    preds, counts = {}, [0, 0, 0, 0]
    for i, query in enumerate(queries):
        s, e, d = query.start, query.end, query.end - query.start
        far = (e + 1000.0, e + 1000.0 + d)
        kind = i % 4
        counts[kind] += 1
        if kind == 0:
            wins = [(s, e)]                              # IoU 1
        elif kind == 1:
            wins = [(s + 0.4 * d, e + 0.4 * d)]          # IoU 0.6 / 1.4 = 3/7
        elif kind == 2:
            wins = [(s + 0.8 * d, e + 0.8 * d), (s, e)]  # top-1 IoU 1/9, top-2 exact
        else:
            wins = [far]
        preds[query.key] = wins + [far] * (5 - len(wins))
    return preds, counts


def test_evaluate_round_trip_on_real_val(goalstep_valid, tmp_path, capsys):
    from vtkit.annotations import load_annotations

    ann = load_annotations(goalstep_valid)
    queries = ann.queries()
    assert len(queries) == 7696
    preds, (n0, n1, n2, n3) = _shifted_predictions(queries)
    path = write_submission(tmp_path / "sub.json", preds)
    assert main(["check-submission", str(path), str(goalstep_valid)]) == 0
    assert capsys.readouterr().out.strip() == "OK: 7696 queries"
    assert main(["evaluate", str(path), str(goalstep_valid), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    n = len(queries)
    assert set(out) == {"R1@0.3", "R1@0.5", "R5@0.3", "R5@0.5", "mIoU", "queries"}
    assert out["queries"] == n
    assert out["R1@0.3"] == (n0 + n1) / n
    assert out["R1@0.5"] == n0 / n
    assert out["R5@0.3"] == (n0 + n1 + n2) / n
    assert out["R5@0.5"] == (n0 + n2) / n
    assert out["mIoU"] == pytest.approx((n0 + n1 * 3 / 7 + n2 / 9) / n, abs=1e-9)
    # the readable table carries the breakdowns
    assert main(["evaluate", str(path), str(goalstep_valid)]) == 0
    table = capsys.readouterr().out
    assert "substep" in table and "essential" in table and f"{100 * n0 / n:.2f}" in table


def test_evaluate_refuses_test_split(goalstep_test, tmp_path, capsys):
    path = write_submission(tmp_path / "sub.json", {})
    assert main(["evaluate", str(path), str(goalstep_test)]) == 2
    assert "no times" in capsys.readouterr().err
