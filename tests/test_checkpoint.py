"""Checkpoints: written atomically, read as untrusted, refused when damaged or diverged; training that
diverges stops with one line."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from vtkit.checkpoint import load_checkpoint, read_checkpoint, read_choices, state_path
from vtkit.errors import VtkitError


@pytest.fixture(scope="module")
def trained(tiny_samples, tmp_path_factory):
    from test_train import tiny_config
    from vtkit.train import train

    cfg = tiny_config(tiny_samples, tmp_path_factory.mktemp("ckpt"), epochs=1, max_steps_per_epoch=2,
                      early_stop_patience=0)
    return cfg, train(cfg, progress=False)


def _copy(result, tmp_path):
    folder = tmp_path / "checkpoints"
    shutil.copytree(result.best_checkpoint.parent, folder)
    return folder


def test_choices_are_recorded_with_the_best_checkpoint(trained):
    cfg, result = trained
    choices = read_choices(result.best_checkpoint)
    assert choices["substep_mode"] in ("joint", "hierarchical", "parent", "video")
    assert "held-out" in choices["chosen_by"] and choices["best_epoch"] == result.best_epoch
    assert state_path(result.best_checkpoint.parent) == result.best_checkpoint.parent / "best.json"


def test_non_finite_weights_are_refused(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = _copy(trained[1], tmp_path)
    weights = load_file(folder / "best.safetensors")
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    metadata = {"global_step": json.loads((folder / "best.json").read_text())["global_step"]}
    save_file(weights, folder / "best.safetensors", metadata={k: str(v) for k, v in metadata.items()} |
              {"epoch": "0"})
    with pytest.raises(VtkitError, match="non-finite weights") as err:
        load_checkpoint(folder)
    assert "\n" not in str(err.value) and "best.safetensors" in str(err.value)


@pytest.mark.parametrize("change, field", [
    ({"weights": "../../elsewhere.safetensors"}, "weights"),
    ({"weights": 7}, "weights"),
    ({"global_step": -1}, "global_step"),
    ({"global_step": "12"}, "global_step"),
    ({"history": {"epoch": 1}}, "history"),
])
def test_state_json_is_read_as_untrusted(trained, tmp_path, change, field):
    folder = _copy(trained[1], tmp_path)
    state = json.loads((folder / "best.json").read_text())
    (folder / "best.json").write_text(json.dumps({**state, **change}))
    with pytest.raises(VtkitError, match=field) as err:
        read_checkpoint(folder)
    assert "\n" not in str(err.value)


def test_a_diverging_run_stops_naming_lr_and_keeps_no_diverged_weights(tiny_samples, tmp_path, monkeypatch):
    import vtkit.train as train_module
    from test_train import tiny_config

    real = train_module.batch_loss
    monkeypatch.setattr(train_module, "batch_loss",   # training steps diverge; validation (no grad) stays finite
                        lambda *a, **k: real(*a, **k) * (float("nan") if torch.is_grad_enabled() else 1.0))
    cfg = tiny_config(tiny_samples, tmp_path, epochs=2, max_steps_per_epoch=2)
    with pytest.raises(VtkitError, match="loss became nan.*lr") as err:
        train_module.train(cfg, progress=False)
    assert "\n" not in str(err.value)
    state = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert state["epoch"] == 0                              # only the untrained evaluation was saved
    load_checkpoint(tmp_path / "checkpoints" / "best.json")  # and it is finite
