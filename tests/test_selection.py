"""The selection split: held-out train videos by seed and fold, and what it records after choosing."""
import json

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


@pytest.mark.parametrize("mode", ["hierarchical", "best"])
def test_selection_hits_pool_to_the_chosen_score(tiny_samples, tmp_path, mode):
    """Per-video hits on the selection split, with the chosen mode and background, add up to the score
    the choice was made on; with ``best``, each mode's hits add up to its best score; training.json
    carries them."""
    from test_train import tiny_config
    from vtkit.align import SUBSTEP_MODES
    from vtkit.report import training_summary

    cfg = tiny_config(tiny_samples, tmp_path, epochs=1, max_steps_per_epoch=2, early_stop_patience=0,
                      substep_mode=mode)
    result = train(cfg, progress=False)
    _, held, _ = _split(cfg)
    assert set(result.selection_hits) == held
    hits = sum(h for h, _ in result.selection_hits.values())
    queries = sum(n for _, n in result.selection_hits.values())
    chosen = f"{result.choices['substep_mode']}/{result.choices['background_value']:g}"
    assert queries == sum(len(v.queries) for v in load_annotations(cfg.train_annotations).subset(held).videos)
    assert hits / queries == pytest.approx(result.selection_table[chosen])
    assert result.selection_table[chosen] == max(result.selection_table.values())
    assert json.loads(json.dumps(training_summary(result)))["selection_hits"] == {
        uid: list(h) for uid, h in result.selection_hits.items()}
    summary = json.loads(json.dumps(training_summary(result)))
    if mode != "best":
        assert result.selection_mode_hits == {} and summary["selection_mode_hits"] == {}
        return
    assert set(result.selection_mode_hits) == set(SUBSTEP_MODES)
    for m, per_video in result.selection_mode_hits.items():
        assert set(per_video) == held
        pooled = sum(h for h, _ in per_video.values()) / sum(n for _, n in per_video.values())
        assert pooled == pytest.approx(max(v for k, v in result.selection_table.items() if k.startswith(m + "/")))
    assert result.selection_mode_hits[result.choices["substep_mode"]] == result.selection_hits
    assert summary["selection_mode_hits"] == {m: {u: list(h) for u, h in pv.items()}
                                              for m, pv in result.selection_mode_hits.items()}
