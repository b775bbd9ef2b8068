"""The selection split: held-out train videos by seed and fold, and what it records after choosing."""
import json

import numpy as np
import pytest

from vtkit.annotations import load_annotations
from vtkit.errors import VtkitError
from vtkit.train import selection_split, train


def _split(cfg):
    kept, held, chosen_by = selection_split(load_annotations(cfg.train_annotations), cfg)
    return {v.video_uid for v in kept.videos}, {v.video_uid for v in held.videos}, chosen_by


def test_folds_are_disjoint_and_fold_0_is_the_default(tiny_samples, tmp_path):
    from test_train import tiny_config

    every = {v.video_uid for v in load_annotations(tiny_samples / "goalstep_train.json").videos}
    default = _split(tiny_config(tiny_samples, tmp_path, selection_fraction=0.34))
    folds = [_split(tiny_config(tiny_samples, tmp_path, selection_fraction=0.34, selection_fold=k)) for k in range(3)]
    assert folds[0] == default and "fold" not in default[2]
    for kept, held, chosen_by in folds:
        assert len(held) == 2 and kept | held == every and not kept & held
    assert set.union(*(held for _, held, _ in folds)) == every      # 3 folds of 2 cover the 6 train videos
    assert "fold 2" in folds[2][2]
    assert any(_split(tiny_config(tiny_samples, tmp_path, selection_fraction=0.34, seed=s))[1] != default[1]
               for s in (1, 2, 3))                                  # the seed draws the folds


@pytest.mark.parametrize("changes, text", [
    ({"selection_fraction": 0.34, "selection_fold": 3}, "6 train videos make 3 selection folds of 2 (0 to 2), got 3"),
    ({"selection_fold": 1, "selection_annotations": "SEL"}, "leave selection_fold at 0"),
])
def test_a_fold_that_does_not_exist_is_one_line(tiny_samples, tmp_path, changes, text):
    from test_train import tiny_config

    if changes.get("selection_annotations") == "SEL":
        changes = {**changes, "selection_annotations": str(tiny_samples / "goalstep_val.json")}
    with pytest.raises(VtkitError, match="selection_fold") as err:
        _split(tiny_config(tiny_samples, tmp_path, **changes))
    assert text in str(err.value) and "\n" not in str(err.value)


def test_negative_fold_is_refused(tiny_samples, tmp_path):
    from test_train import tiny_config

    with pytest.raises(VtkitError, match="selection_fold"):
        tiny_config(tiny_samples, tmp_path, selection_fold=-1)


def _brute_force(cfg, held):
    """Every (substep mode, steps' background, substeps' background): each query's hit, from the best weights."""
    from vtkit.align import AlignSettings
    from vtkit.checkpoint import load_model
    from vtkit.features import open_store
    from vtkit.metrics import query_hits
    from vtkit.predict import SUBSTEP_MODES, predict_split, split_windows
    from vtkit.train import BACKGROUND_CHOICES

    model = load_model(cfg.checkpoint_path(), cfg)
    sims = predict_split(model, held, open_store(cfg.video_root, chunk_seconds=cfg.chunk_seconds), cfg, aligners=[],
                         progress=False).similarities
    base, queries = AlignSettings.from_config(cfg).replace(aligner="dp"), held.queries()
    return {(m, b, sb): query_hits(split_windows(held.videos, sims, base.replace(background_value=b,
                                                                               substep_background_value=sb),
                                                 m, cfg.chunk_seconds)[0], queries)
            for m in SUBSTEP_MODES for b in BACKGROUND_CHOICES for sb in BACKGROUND_CHOICES}


def test_choices_are_the_staged_best_of_a_brute_force(tiny_samples, tmp_path):
    """The steps' background is the best over the step queries with the steps aligned alone; with it, the
    substep mode and the substeps' background are the best over all queries; the recorded hits and table
    are those settings'."""
    from test_train import tiny_config
    from vtkit.train import BACKGROUND_CHOICES

    cfg = tiny_config(tiny_samples, tmp_path, epochs=1, max_steps_per_epoch=2, early_stop_patience=0,
                      substep_mode="best", selection_fraction=0.34)
    result = train(cfg, progress=False)
    held = load_annotations(cfg.train_annotations).subset(_split(cfg)[1])
    brute = _brute_force(cfg, held)
    is_sub = np.array([q.level == "substep" for q in held.queries()])
    assert is_sub.any() and (~is_sub).any()
    mode, b, sb = (result.choices[k] for k in ("substep_mode", "background_value", "substep_background_value"))
    # stage 1: the steps aligned alone (as in every mode but joint), the substeps' background as given
    steps = {v: brute["hierarchical", v, cfg.background_value][~is_sub].mean() for v in BACKGROUND_CHOICES}
    assert steps[b] == max(steps.values())
    assert brute[mode, b, sb].mean() == max(h.mean() for k, h in brute.items() if k[1] == b)
    assert result.selection_table[f"steps/{b:g}"] == pytest.approx(steps[b])
    assert result.selection_table[f"{mode}/{sb:g}"] == pytest.approx(brute[mode, b, sb].mean())
    assert sum(h for h, _ in result.selection_hits.values()) == brute[mode, b, sb].sum()
    for m, per_video in result.selection_mode_hits.items():   # each mode at its own best substeps' background
        best = max(h.mean() for k, h in brute.items() if k[0] == m and k[1] == b)
        assert any(sum(h for h, _ in per_video.values()) == brute[m, b, x].sum()
                   for x in {k[2] for k, h in brute.items() if k[:2] == (m, b) and h.mean() == best})


@pytest.mark.parametrize("mode", ["hierarchical", "best"])
def test_selection_hits_cover_the_selection_videos(tiny_samples, tmp_path, mode):
    """Per-video hits on the selection split, with the choices applied, count every selection query; with
    ``best``, each mode has its own; training.json carries them."""
    from test_train import tiny_config
    from vtkit.align import SUBSTEP_MODES
    from vtkit.report import training_summary

    cfg = tiny_config(tiny_samples, tmp_path, epochs=1, max_steps_per_epoch=2, early_stop_patience=0,
                      substep_mode=mode)
    result = train(cfg, progress=False)
    _, held, _ = _split(cfg)
    assert set(result.selection_hits) == held
    queries = sum(n for _, n in result.selection_hits.values())
    assert queries == sum(len(v.queries) for v in load_annotations(cfg.train_annotations).subset(held).videos)
    assert json.loads(json.dumps(training_summary(result)))["selection_hits"] == {
        uid: list(h) for uid, h in result.selection_hits.items()}
    summary = json.loads(json.dumps(training_summary(result)))
    if mode != "best":
        assert result.selection_mode_hits == {} and summary["selection_mode_hits"] == {}
        return
    assert set(result.selection_mode_hits) == set(SUBSTEP_MODES)
    for m, per_video in result.selection_mode_hits.items():
        assert set(per_video) == held
    assert result.selection_mode_hits[result.choices["substep_mode"]] == result.selection_hits
    assert summary["selection_mode_hits"] == {m: {u: list(h) for u, h in pv.items()}
                                              for m, pv in result.selection_mode_hits.items()}
