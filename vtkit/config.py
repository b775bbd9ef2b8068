"""One configuration for the whole kit.

Its field names are exactly the notebooks' parameter names. Build it from papermill
parameters, a YAML file or keyword arguments; it is validated once, at the start.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from vtkit.align import (ALIGNERS, BACKGROUNDS, DEFAULT_MIN_LEN, DEFAULT_NODE_BUDGET, DEFAULT_QUERY_NORM,
                         DEFAULT_SUBSTEP_EVIDENCE, DEFAULT_SUBSTEP_MODE, DEFAULT_SUBSTEP_PRIOR, DEFAULT_TIME_BUDGET,
                         DEFAULT_TOP_K, QUERY_NORMS, SUBSTEP_MODES)
from vtkit.errors import VtkitError, describe
from vtkit.text import DEFAULT_TEXT_MODEL
from vtkit.timeline import DEFAULT_CHUNK_SECONDS

CHOICES = {
    "feature_store": ("auto", "chunks", "packed"),
    "adapter": ("bottleneck", "clip", "none"),
    "negative_source": ("hard", "easy", "mixed"),
    "loss": ("infonce", "clip"),
    "lr_schedule": ("cosine", "plateau", "constant"),
    "aligner": ALIGNERS,
    "background": BACKGROUNDS,
    "query_norm": QUERY_NORMS,
    "substep_mode": ("best", *SUBSTEP_MODES),
    "train_levels": ("both", "step", "substep", "finest"),
    "projection_init": ("ridge", "random"),
    "device": ("auto", "cpu", "cuda"),
}
PATH_FIELDS = ("video_root", "train_annotations", "val_annotations")


@dataclass(frozen=True)
class ModelConfig:
    """What the dual encoder is built from, and all that a checkpoint records of a run's parameters.

    ``chunk_seconds`` is the chunk length of the features it was trained on.
    """

    text_model: str = DEFAULT_TEXT_MODEL
    embed_dim: int = 256
    adapter: str = "bottleneck"
    adapter_dim: int = 64
    adapter_scale: float = 1.0
    adapter_dropout: float = 0.0     # on the bottleneck's hidden units, training only
    clip_alpha: float = 0.2
    text_block_adapters: bool = False
    lock_text_head: bool = True      # the text adapter and projection stay as they start (LiT-style)
    context_window: int = 0
    temperature: float = 0.07
    learn_temperature: bool = True
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "checkpoint") -> "ModelConfig":
        """From a saved dict; a whole run's parameters (older checkpoints) contribute their model fields."""
        if not isinstance(values, dict):
            raise VtkitError("model config must be a mapping", path=source, field="model_config")
        names = [f.name for f in fields(cls)]
        return Config.from_dict({k: values[k] for k in names if k in values}, source=source).model()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Config:
    # data
    video_root: str = "data_samples/videos"
    train_annotations: str = "data_samples/goalstep_train.json"
    val_annotations: str = "data_samples/goalstep_val.json"
    feature_store: str = "auto"
    feature_cache_dir: Optional[str] = ".cache/features"   # per-chunk features packed here once (None: read as they are)
    chunk_seconds: float = ModelConfig.chunk_seconds
    text_model: str = ModelConfig.text_model
    seed: int = 0
    out_dir: str = "reports/sample"
    device: str = "auto"
    max_videos: Optional[int] = None  # use only the first n videos of each split (quick runs)
    skip_missing_features: bool = False  # leave out (and count) annotated videos without features
    plot_videos: int = 4
    # model
    embed_dim: int = ModelConfig.embed_dim
    adapter: str = ModelConfig.adapter
    adapter_dim: int = ModelConfig.adapter_dim
    adapter_scale: float = ModelConfig.adapter_scale
    adapter_dropout: float = ModelConfig.adapter_dropout
    clip_alpha: float = ModelConfig.clip_alpha
    text_block_adapters: bool = ModelConfig.text_block_adapters
    lock_text_head: bool = ModelConfig.lock_text_head
    context_window: int = ModelConfig.context_window
    temperature: float = ModelConfig.temperature
    learn_temperature: bool = ModelConfig.learn_temperature
    # dataset and training
    negative_ratio: int = 8           # chosen on three selection folds in the documented sweep (README)
    negative_source: str = "mixed"
    negative_chunks: int = 8          # same-video chunks as a text's negatives (infonce); chosen on selection folds (README)
    negative_chunk_window: int = 0    # >0: half of those drawn within this many chunks of the text's run (its neighbours)
    background_ratio: float = 0.0
    loss: str = "infonce"
    batch_size: int = 256
    epochs: int = 8
    lr: float = 3e-4   # chosen on 4 selection folds of the GoalStep-scale benchmark (README)
    weight_decay: float = 0.01
    lr_schedule: str = "cosine"
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    early_stop_patience: int = 3
    max_steps_per_epoch: Optional[int] = None
    resume: bool = False
    text_cache_dir: Optional[str] = ".cache/text"
    checkpoint: Optional[str] = None  # weights to evaluate; None: <out_dir>/checkpoints/best.safetensors
    train_levels: str = "both"        # training positives: steps, substeps, both, or finest (a chunk's substeps where any)
    projection_init: str = "ridge"    # "ridge": random projections start as a linear probe of the train split
    # selection: what chooses epochs, the checkpoint, the substep mode and the background (never val_annotations)
    selection_fraction: float = 0.15  # held-out share of the train videos (seeded, by video)
    selection_fold: int = 0           # which disjoint share of that size is held out (folds for sweeps)
    selection_annotations: Optional[str] = None  # a separate selection file instead of the held-out share
    select_background: bool = True    # choose both background values among BACKGROUND_CHOICES on the selection split
    # alignment
    aligner: str = "dp"
    background: str = "percentile"
    background_value: float = 50.0
    substep_background_value: Optional[float] = None  # the substeps' own (same background kind); None: background_value
    min_len: int = DEFAULT_MIN_LEN
    max_len: Optional[int] = None
    skip_penalty: Optional[float] = None
    dfs_node_budget: int = DEFAULT_NODE_BUDGET
    dfs_time_budget: float = DEFAULT_TIME_BUDGET      # seconds per video before the DP answer stands in
    dfs_max_total: Optional[int] = None   # DFS only: at most this many chunks covered by all steps together
    dfs_max_gap: Optional[int] = None     # DFS only: at most this many chunks between consecutive steps
    dfs_max_skips: Optional[int] = None   # DFS only: at most this many skipped steps (needs skip_penalty)
    substep_mode: str = DEFAULT_SUBSTEP_MODE  # "best": each run's selection split chooses among SUBSTEP_MODES
    substep_prior: float = DEFAULT_SUBSTEP_PRIOR  # hierarchical substeps: bonus (std of S) on their even share of the parent
    substep_evidence: float = DEFAULT_SUBSTEP_EVIDENCE  # steps: + this times their substeps' best score at each chunk
    query_norm: str = DEFAULT_QUERY_NORM  # "zscore": each query's similarities standardised before aligning
    top_k: int = DEFAULT_TOP_K

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "parameters") -> "Config":
        """Build and validate; unknown names and ill-typed values fail with one line."""
        known = set(cls.names())
        unknown = sorted(set(values) - known)
        if unknown:
            import difflib

            hints = [f"{u} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(u, known, 1)) else u
                     for u in unknown]
            raise VtkitError(f"unknown parameter(s) {', '.join(hints)}; known: {', '.join(sorted(known))}",
                             path=source)
        hints = typing.get_type_hints(cls)
        clean = {}
        for name, value in values.items():
            clean[name] = _coerce(name, value, hints[name], source)
        cfg = cls(**clean)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Optional[dict[str, Any]] = None) -> "Config":
        from vtkit.io import read_yaml_mapping

        data = read_yaml_mapping(path)
        data.update(overrides or {})
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any], source: str = "notebook parameters") -> "Config":
        """Pick the config's names out of a namespace (a notebook's globals())."""
        return cls.from_dict({k: namespace[k] for k in cls.names() if k in namespace}, source=source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Config":
        return Config.from_dict({**self.to_dict(), **changes})

    def validate(self, source: str = "parameters") -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):  # every number field, from its type hint: finite floats, 64-bit integers
            kind, value = _base_type(hints[f.name]), getattr(self, f.name)
            if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value) or abs(value) > sys.float_info.max:
                    raise VtkitError(f"must be a finite number, got {describe(value)}", path=source, field=f.name)
            elif kind is int and isinstance(value, int) and not -2**63 <= value < 2**63:
                raise VtkitError(f"out of range, got {describe(value)}", path=source, field=f.name)
        for name, options in CHOICES.items():
            if getattr(self, name) not in options:
                raise VtkitError(f"must be one of {', '.join(options)}, got {describe(getattr(self, name))}",
                                 path=source, field=name)
        positive = ["chunk_seconds", "embed_dim", "adapter_dim", "temperature", "batch_size", "epochs", "lr",
                    "min_len", "dfs_node_budget", "top_k"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise VtkitError(f"must be > 0, got {getattr(self, name)!r}", path=source, field=name)
        non_negative = ["negative_ratio", "background_ratio", "weight_decay", "warmup_fraction", "grad_clip",
                        "context_window", "early_stop_patience", "seed", "substep_prior", "selection_fold",
                        "negative_chunks", "negative_chunk_window", "substep_evidence"]
        for name in non_negative:
            if getattr(self, name) < 0:
                raise VtkitError(f"must be >= 0, got {getattr(self, name)!r}", path=source, field=name)
        if not 0 <= self.clip_alpha <= 1:
            raise VtkitError(f"must be in [0, 1], got {self.clip_alpha!r}", path=source, field="clip_alpha")
        if not 0 <= self.adapter_dropout < 1:
            raise VtkitError(f"must be in [0, 1), got {self.adapter_dropout!r}", path=source, field="adapter_dropout")
        if not 0 <= self.selection_fraction < 1:
            raise VtkitError(f"must be in [0, 1), got {self.selection_fraction!r}", path=source,
                             field="selection_fraction")
        if not self.warmup_fraction < 1:
            raise VtkitError(f"must be < 1, got {self.warmup_fraction!r}", path=source, field="warmup_fraction")
        for name in ("background_value", "substep_background_value"):
            value = getattr(self, name)
            if self.background == "percentile" and value is not None and not 0 <= value <= 100:
                raise VtkitError(f"a percentile must be in [0, 100], got {value!r}", path=source, field=name)
        if self.max_len is not None and self.max_len < self.min_len:
            raise VtkitError(f"max_len ({self.max_len}) is below min_len ({self.min_len})", path=source, field="max_len")
        for name in ("max_steps_per_epoch", "max_videos"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise VtkitError("must be > 0 or None", path=source, field=name)
        if self.plot_videos < 0:
            raise VtkitError(f"must be >= 0, got {self.plot_videos!r}", path=source, field="plot_videos")

    def model(self) -> ModelConfig:
        """The fields the model is built from."""
        return ModelConfig(**{f.name: getattr(self, f.name) for f in fields(ModelConfig)})

    def checkpoint_path(self) -> Path:
        """The weights notebooks 03 and 04 evaluate (``checkpoint``, else the run's best)."""
        return Path(self.checkpoint) if self.checkpoint else Path(self.out_dir) / "checkpoints" / "best.safetensors"

    def check_paths(self, base: str | Path = ".", names: tuple[str, ...] = PATH_FIELDS) -> None:
        """Fail with one line if an input path does not exist (relative to ``base``)."""
        for name in names:
            p = Path(base) / getattr(self, name)
            if not p.exists():
                raise VtkitError(f"path does not exist: {p}", field=name)


def _base_type(hint: Any) -> Any:
    """``float`` for ``Optional[float]``, and so on."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(hint) if a is not type(None)][0]
    return hint


def _coerce(name: str, value: Any, hint: Any, source: str) -> Any:
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    hint = _base_type(hint)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        if optional:
            return None
        raise VtkitError(f"must be a {hint.__name__}, got None", path=source, field=name)
    if isinstance(value, str) and hint is not str:
        value = _parse_text(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                raise VtkitError(f"must be a finite number, got {describe(value)}", path=source, field=name) from None
    elif hint is str:
        if isinstance(value, str):
            if "\x00" in value:
                raise VtkitError(f"must not contain a NUL character, got {describe(value)}", path=source, field=name)
            return value
        if isinstance(value, Path) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return str(value)  # a YAML file's `out_dir: 2024`
    raise VtkitError(f"must be a {hint.__name__}, got {describe(value)}", path=source, field=name)


def _parse_text(text: str) -> Any:
    """Read a command-line or YAML scalar: 3 -> int, 0.5 -> float, 1e3 -> float, true -> bool.

    Text that is not valid YAML (or holds an alias) stays text, for the field's type check to refuse.
    """
    from vtkit.io import parse_yaml

    try:
        value = parse_yaml(text)
    except ValueError:
        return text
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e3" as a string
        except ValueError:
            pass
    return value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "aligner=dfs"]`` -> ``{"lr": 0.01, "aligner": "dfs"}``."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise VtkitError(f"expected key=value, got {describe(pair)}", path="-p")
        key, text = pair.split("=", 1)
        out[key.strip()] = text  # typed by the field it sets (Config.from_dict), so out_dir=2024 stays text
    return out
