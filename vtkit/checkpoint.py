"""Checkpoints: the files a training run writes, and the model they rebuild.

A checkpoint ``<folder>/<name>`` (``best`` and ``last``) is three files: ``<name>.safetensors`` (the
trainable weights only), ``<name>.optim.safetensors`` (the optimizer's tensors) and ``<name>.json``
(epoch, step, history, best metric, scheduler, optimizer scalars, torch RNG, and ``build_info``: the
:class:`vtkit.config.ModelConfig` and feature dim). Each file is written atomically, the JSON last;
both safetensors files carry the global step in their metadata, so a JSON whose files hold another step
(a save interrupted between files) is refused as incomplete.

:func:`load_model` is what evaluation and inference call: a checkpoint's model, or untrained towers.
"""
from __future__ import annotations

import base64
import math
import warnings
from pathlib import Path

import numpy as np
import torch

from vtkit.config import Config, ModelConfig
from vtkit.errors import VtkitError
from vtkit.io import atomic_path, read_json, write_json
from vtkit.model import DualEncoder

CHECKPOINT_FORMAT = "vtkit-checkpoint/1"


def resolve_device(name: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; ``"cuda"`` without one is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise VtkitError("device='cuda' but no CUDA GPU is visible (install a CUDA build of torch, see README)",
                         field="device")
    return name


def nan_to_none(rows):
    """History rows for JSON/CSV: NaN (not measured) becomes None."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]


def none_to_nan(rows):
    return [{k: (math.nan if v is None else v) for k, v in r.items()} for r in rows]


def save_checkpoint(folder: Path, name: str, model, optimizer, state: dict) -> Path:
    """Write ``<name>.safetensors``, ``<name>.optim.safetensors`` then ``<name>.json``; returns the weights path."""
    from safetensors.torch import save_file

    stamp = {"global_step": str(state["global_step"]), "epoch": str(state["epoch"])}
    weights = {k: v.detach().cpu().contiguous() for k, v in model.trainable_state_dict().items()}
    with atomic_path(folder / f"{name}.safetensors") as tmp:
        save_file(weights, str(tmp), metadata=stamp)
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in opt["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    with atomic_path(folder / f"{name}.optim.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=stamp)
    write_json(folder / f"{name}.json", {
        "format": CHECKPOINT_FORMAT, **state, "history": nan_to_none(state["history"]),
        "scheduler": _floats_to_json(state.get("scheduler")), "best": _floats_to_json(state.get("best")),
        "weights": f"{name}.safetensors",
        "optimizer": {"file": f"{name}.optim.safetensors", "param_groups": opt["param_groups"], "scalars": scalars},
        "rng": {"torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode()},
        "build_info": model.build_info()})
    return folder / f"{name}.safetensors"


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _floats_to_json(value):
    """Training state for strict JSON (the scheduler's, the best metric): non-finite floats (e.g.
    ReduceLROnPlateau's ``mode_worse``) as the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _floats_to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_floats_to_json(v) for v in value]
    return value


def _floats_from_json(value):
    """The inverse of :func:`_floats_to_json`."""
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, dict):
        return {k: _floats_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_from_json(v) for v in value]
    return value


def state_path(path: str | Path) -> Path:
    """The state JSON of a checkpoint given as its folder (best), JSON or weights file."""
    path = Path(path)
    if path.is_dir():
        return path / "best.json"
    if path.name.endswith(".safetensors"):
        return path.with_name(path.name[: -len(".safetensors")].removesuffix(".optim") + ".json")
    return path


def _read_state(path: Path) -> dict:
    state = read_json(path, "checkpoint state")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise VtkitError(f"not a vtkit checkpoint (expected format {CHECKPOINT_FORMAT})", path=path)
    return state


def write_choices(path: str | Path, choices: dict) -> None:
    """Record what the selection split chose (substep mode, background) in the checkpoint's state."""
    path = state_path(path)
    write_json(path, {**_read_state(path), "choices": choices})


def read_choices(path: str | Path) -> dict:
    """``{"substep_mode": ..., "background_value": ..., "chosen_by": ...}`` recorded with a checkpoint ({} if none)."""
    path = state_path(path)
    choices = _read_state(path).get("choices") or {}
    if not isinstance(choices, dict):
        raise VtkitError("must be a mapping", path=path, field="choices")
    return choices


def read_checkpoint(path: str | Path) -> tuple[dict, dict, Path]:
    """``(state, weights, optimizer file)`` of a checkpoint given as its folder (best), JSON or weights file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = state_path(path)
    state = _read_state(path)
    try:
        names = {"weights": state["weights"], "optimizer.file": state["optimizer"]["file"]}
        step, history = state["global_step"], state["history"]
    except (KeyError, TypeError) as err:
        raise VtkitError(f"checkpoint state lacks {err}", path=path) from None
    for field_name, name in names.items():   # file names next to the JSON, never paths elsewhere
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise VtkitError("must be a file name next to the checkpoint", path=path, field=field_name)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise VtkitError("must be a non-negative integer", path=path, field="global_step")
    files = [path.parent / name for name in names.values()]
    for file in files:
        if not file.is_file():
            raise VtkitError(f"checkpoint file {file.name} is missing", path=path)
        try:
            with safe_open(str(file), framework="pt") as fh:
                found = (fh.metadata() or {}).get("global_step")
        except Exception as err:   # safetensors raises its own error types for damaged files
            raise VtkitError(f"unreadable checkpoint file ({type(err).__name__}: {str(err)[:120]})",
                             path=file) from None
        if found != str(step):
            raise VtkitError(f"{file.name} does not belong to this checkpoint (step {found} != {step}): "
                             "saving was interrupted", path=path)
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise VtkitError("checkpoint state field history must be a list of rows", path=path)
    state["history"] = none_to_nan(history)
    weights = load_file(str(files[0]))
    broken = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise VtkitError(f"non-finite weights in {broken[0]} ({len(broken)} tensor(s)): the run that wrote it "
                         "diverged; retrain with a lower lr", path=files[0])
    return state, weights, files[1]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    text_cache_dir: str | Path | None = None) -> tuple[DualEncoder, dict]:
    """``(model in eval mode, state)``: the model rebuilt from the saved model config and feature dim."""
    state, weights, _ = read_checkpoint(path)
    info = state.get("build_info")
    if not isinstance(info, dict) or "feature_dim" not in info:
        raise VtkitError("checkpoint state lacks build_info.feature_dim", path=path)
    # older checkpoints saved the run's whole parameters as "config"
    model_cfg = ModelConfig.from_dict(info.get("model_config", info.get("config")), source=str(path))
    model = DualEncoder.from_config(model_cfg, info["feature_dim"], text_cache_dir)
    model.load_trainable_state_dict(weights)
    return model.to(device).eval(), state


def restore_checkpoint(path: Path, model, optimizer, scheduler, scaler) -> dict:
    """Put a training checkpoint's weights, optimizer, scheduler, scaler and RNG state back; returns its state."""
    from safetensors.torch import load_file

    state, weights, optim_file = read_checkpoint(path)
    model.load_trainable_state_dict(weights)
    opt = state["optimizer"]
    entries: dict[int, dict] = {}
    for key, value in [*load_file(str(optim_file)).items(), *opt["scalars"].items()]:
        idx, name = key.split(".", 1)
        entries.setdefault(int(idx), {})[name] = value
    try:
        optimizer.load_state_dict({"state": entries, "param_groups": opt["param_groups"]})
    except ValueError as err:   # other trainable parameters: another version or lock_text_head / adapter
        raise VtkitError(f"its optimizer state does not fit this model's trainable parameters ({err}); "
                         "resume with the parameters it was trained with, or start afresh", path=path) from None
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(_floats_from_json(state["scheduler"]))
    if state.get("best") is not None:   # older checkpoints wrote a not-a-number best as null
        state = {**state, "best": [math.nan if v is None else v for v in _floats_from_json(state["best"])]}
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(torch.from_numpy(np.frombuffer(base64.b64decode(state["rng"]["torch"]), dtype=np.uint8).copy()))
    return state


def build_model(model_cfg: ModelConfig, feature_dim: int, cfg: Config | None = None) -> DualEncoder:
    """Untrained towers of ``model_cfg`` in eval mode, seeded by ``cfg.seed``, on ``cfg.device``."""
    cfg = cfg or Config()
    torch.manual_seed(cfg.seed)
    return DualEncoder.from_config(model_cfg, feature_dim, cfg.text_cache_dir).to(resolve_device(cfg.device)).eval()


def load_model(checkpoint: str | Path | None = None, cfg: Config | None = None,
               feature_dim: int | None = None) -> DualEncoder:
    """The trained model of ``checkpoint``, or untrained towers of ``cfg`` (zero-shot, with a warning).

    The model is put on ``cfg.device`` (``auto``: the GPU when there is one); a checkpoint trained on
    another ``chunk_seconds`` than ``cfg``'s is refused.
    """
    cfg = cfg or Config()
    device = resolve_device(cfg.device)
    if checkpoint is not None:
        model, _ = load_checkpoint(checkpoint, device, cfg.text_cache_dir)
        if cfg.chunk_seconds != model.config.chunk_seconds:
            raise VtkitError(f"the checkpoint was trained with chunk_seconds={model.config.chunk_seconds} but the "
                             f"run uses {cfg.chunk_seconds}", path=checkpoint, field="chunk_seconds")
        return model
    if feature_dim is None:
        raise VtkitError("feature_dim is needed to build an untrained model", field="feature_dim")
    warnings.warn("no checkpoint given: using the untrained (zero-shot) towers; train one with notebook 02 "
                  "or `vtkit train` for meaningful segments", stacklevel=2)
    return build_model(cfg.model(), feature_dim, cfg)
