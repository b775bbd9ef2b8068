"""LaViLa-style dual encoder: frozen text transformer and chunk features, small trainable adapters.

Video tower: chunk features ``[B, D]`` (or ``[B, 2w+1, D]`` with a temporal context window, combined by
softmax weights over the offsets that start favouring the centre chunk) -> adapter -> affine projection.
Text tower: frozen transformer, mean pooling -> adapter -> linear projection. Both land L2-normalised in a
joint space of ``embed_dim``; cosine similarity times a learnable logit scale gives the logits.

Adapters (``ModelConfig.adapter``):
  - ``"bottleneck"``: ``f + s * up(gelu(down(f)))``, up-projection zero-initialised: training starts from
    the backbone's features exactly.
  - ``"clip"``: CLIP-Adapter, ``alpha * relu(up(relu(down(f)))) + (1 - alpha) * f``.
  - ``"none"``: only the projections (and the temperature) train.
``ModelConfig.text_block_adapters`` also puts a Houlsby bottleneck adapter on each transformer block's
feed-forward output (before its residual sum and LayerNorm); BERT-family models, DistilBERT and LaViLa's
CLIP text transformer. ``ModelConfig.lock_text_head`` (default) keeps the text adapter and projection as they
start (locked-tower tuning, as LiT locks its image tower): the video side, the temperature and any block
adapters learn (and the ``"clip"`` text adapter, which does not start as the identity).

LaViLa text towers (``text_model`` = a LaViLa checkpoint, :mod:`vtkit.lavila`) pool themselves (end-of-text
token, CLS for DistilBERT) and start the model as LaViLa's zero-shot dual encoder: the text projection is the
checkpoint's ``text_projection``; the video projection is the identity when the features are LaViLa's projected
embeddings (``feature_dim == embed_dim``), the checkpoint's ``image_projection`` when they are its pre-projection
CLS features (``feature_dim`` = its vision width), else random (other features). The feature kind is read from
the dimension alone. ``embed_dim`` must equal the checkpoint's. Bottleneck adapters start as the identity, so
the untrained model's similarities are LaViLa's; the ``"clip"`` adapter does not (it scales by ``1 - alpha``
and adds a random branch). The temperature still comes from ``ModelConfig.temperature``.

A random start can instead be a least-squares one (``projection_init="ridge"``, fitted on the training split by
:func:`vtkit.train.start_projections_by_ridge`): the text projection takes the descriptions' principal
directions and the video projection (which has a bias, zero otherwise) a ridge regression onto the embeddings
of the texts covering each chunk, so training starts from a linear probe. Projections LaViLa sets stay as it
sets them.

The backbone is frozen and kept in eval mode. Without block adapters its pooled output never changes, so it
is computed once per unique description (:class:`vtkit.text.TextEmbeddingCache`, in memory and on disk).
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vtkit.config import ModelConfig
from vtkit.errors import VtkitError
from vtkit.text import (MAX_TEXT_TOKENS, TextEmbeddingCache, is_lavila_text_model, load_lavila_text,
                        load_text_backbone, mean_pool, resolve_text_model)

MAX_LOGIT_SCALE = 100.0  # CLIP's clamp
TEXT_BATCH = 256
RIDGE = 1e-3   # per pair, on standardised inputs: fit_video_projection


class BottleneckAdapter(nn.Module):
    """Residual bottleneck ``f + scale * up(dropout(gelu(down(f))))``; ``up`` starts at zero (identity at init)."""

    def __init__(self, dim: int, hidden: int, scale: float = 1.0, dropout: float = 0.0):
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.up = nn.Linear(hidden, dim)
        self.scale = scale
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, f):
        return f + self.scale * self.up(self.dropout(F.gelu(self.down(f))))


class ClipAdapter(nn.Module):
    """CLIP-Adapter (Gao et al. 2021): ``alpha * relu(up(relu(down(f)))) + (1 - alpha) * f``."""

    def __init__(self, dim: int, hidden: int, alpha: float):
        super().__init__()
        self.down = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(hidden, dim, bias=False)
        self.alpha = alpha

    def forward(self, f):
        return self.alpha * F.relu(self.up(F.relu(self.down(f)))) + (1 - self.alpha) * f


def make_adapter(cfg: ModelConfig, dim: int) -> nn.Module:
    if cfg.adapter == "bottleneck":
        return BottleneckAdapter(dim, cfg.adapter_dim, cfg.adapter_scale, cfg.adapter_dropout)
    if cfg.adapter == "clip":
        return ClipAdapter(dim, cfg.adapter_dim, cfg.clip_alpha)
    return nn.Identity()


class ContextPool(nn.Module):
    """Softmax-weighted sum over ``2w+1`` neighbouring chunks; weight logits start at ``-|offset|``."""

    def __init__(self, window: int):
        super().__init__()
        self.logits = nn.Parameter(-torch.arange(-window, window + 1).abs().float())

    def forward(self, x):  # [B, 2w+1, D] -> [B, D]
        return torch.einsum("bkd,k->bd", x, self.logits.softmax(0).to(x.dtype))


def context_windows(features: torch.Tensor, window: int, rows=None) -> torch.Tensor:
    """``[N, D] -> [len(rows), 2w+1, D]``: each chunk with its neighbours, edges padded by repetition."""
    n = features.shape[0]
    rows = torch.arange(n, device=features.device) if rows is None else rows
    offsets = torch.arange(-window, window + 1, device=features.device)
    return features[(rows[:, None] + offsets[None, :]).clamp(0, n - 1)]


class _Adapted(nn.Module):
    """A frozen block's feed-forward module followed by its adapter."""

    def __init__(self, inner: nn.Module, adapter: nn.Module):
        super().__init__()
        self.inner = inner
        self.adapter = adapter

    def forward(self, *args, **kwargs):
        return self.adapter(self.inner(*args, **kwargs))


def _feed_forward_slots(backbone: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(parent, attribute)`` of each block's feed-forward output projection.

    BERT family (BERT, MiniLM, RoBERTa): ``layer.<i>.output.dense``; DistilBERT: ``layer.<i>.ffn``;
    LaViLa's CLIP text transformer: ``resblocks.<i>.mlp``.
    """
    slots = []
    for name, module in backbone.named_modules():
        if re.search(r"layer\.\d+\.output$", name) and isinstance(getattr(module, "dense", None), nn.Module):
            slots.append((module, "dense"))
        elif re.search(r"layer\.\d+$", name) and isinstance(getattr(module, "ffn", None), nn.Module):
            slots.append((module, "ffn"))
        elif re.search(r"resblocks\.\d+$", name) and isinstance(getattr(module, "mlp", None), nn.Module):
            slots.append((module, "mlp"))
    if not slots:
        raise VtkitError(f"text_block_adapters supports BERT-family, DistilBERT and LaViLa text models, not "
                         f"{type(backbone).__name__}", field="text_block_adapters")
    return slots


def _float_tensor(x, device) -> torch.Tensor:
    """float32 tensor on ``device``; read-only arrays (memory-mapped feature stores) are copied, not shared."""
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        x = np.array(x, dtype=np.float32)
    return torch.as_tensor(x, dtype=torch.float32, device=device)


class DualEncoder(nn.Module):
    """Video and text towers into one normalised ``embed_dim`` space (see the module docstring)."""

    def __init__(self, cfg: ModelConfig, feature_dim: int, tokenizer, text_backbone: nn.Module,
                 text_cache: TextEmbeddingCache | None = None, lavila=None):
        """``lavila``: the :class:`vtkit.lavila.LavilaCheckpoint` whose text tower is ``text_backbone`` (and
        ``tokenizer`` its ``tokenize``); the projections then start from it (module docstring)."""
        super().__init__()
        self.config, self.feature_dim, self.window = cfg, int(feature_dim), cfg.context_window
        self.tokenizer = tokenizer
        self.text_backbone = text_backbone.eval().requires_grad_(False)
        self.text_pools_itself = lavila is not None
        text_dim = text_backbone.width if self.text_pools_itself else text_backbone.config.hidden_size
        self.text_block_adapters = nn.ModuleList()
        if cfg.text_block_adapters:
            for parent, attr in _feed_forward_slots(text_backbone):
                adapter = BottleneckAdapter(text_dim, cfg.adapter_dim, cfg.adapter_scale, cfg.adapter_dropout)
                setattr(parent, attr, _Adapted(getattr(parent, attr), adapter))
                self.text_block_adapters.append(adapter)
        self.context = ContextPool(self.window) if self.window else None
        self.adapters_start_as_identity = cfg.adapter != "clip"   # bottleneck (zero up-projection) or none
        self.video_adapter = make_adapter(cfg, self.feature_dim)
        self.text_adapter = make_adapter(cfg, text_dim)
        self.video_proj = nn.Linear(self.feature_dim, cfg.embed_dim)
        nn.init.zeros_(self.video_proj.bias)
        self.text_proj = nn.Linear(text_dim, cfg.embed_dim, bias=False)
        if cfg.lock_text_head:   # only the video side learns to meet the text side where it starts
            self.text_proj.requires_grad_(False)
            if self.adapters_start_as_identity:   # a CLIP-Adapter starts random, not as the identity: it trains
                self.text_adapter.requires_grad_(False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)),
                                        requires_grad=cfg.learn_temperature)
        self.random_projections = {"text", "video"}   # what start_projections_by_ridge may fit
        if lavila is not None:
            self._start_from_lavila(lavila)
        # the backbone's pooled output is valid as long as the backbone itself is untouched
        self.text_cacheable = not cfg.text_block_adapters
        self.text_cache = text_cache if text_cache is not None else TextEmbeddingCache()

    @classmethod
    def from_config(cls, cfg: ModelConfig, feature_dim: int, text_cache_dir: str | Path | None = None) -> "DualEncoder":
        """Load the text backbone named by ``cfg.text_model`` (offline) and build the model; pooled text
        outputs are cached on disk under ``text_cache_dir`` when given."""
        cache = TextEmbeddingCache.for_model(text_cache_dir, resolve_text_model(cfg.text_model))
        if is_lavila_text_model(cfg.text_model):
            ckpt = load_lavila_text(cfg.text_model)
            return cls(cfg, feature_dim, ckpt.tokenize, ckpt.text_tower, cache, lavila=ckpt)
        tokenizer, backbone = load_text_backbone(cfg.text_model)
        return cls(cfg, feature_dim, tokenizer, backbone, cache)

    @torch.no_grad()
    def _start_from_lavila(self, ckpt) -> None:
        """Projections that make the untrained model the checkpoint's zero-shot dual encoder."""
        if self.config.embed_dim != ckpt.embed_dim:
            raise VtkitError(f"must equal the LaViLa checkpoint's embedding size {ckpt.embed_dim}, got "
                             f"{self.config.embed_dim}", path=ckpt.path, field="embed_dim")
        self.text_proj.weight.copy_(ckpt.text_projection.T)
        self.random_projections.discard("text")
        if self.feature_dim == ckpt.embed_dim:          # LaViLa's projected video embeddings
            self.video_proj.weight.copy_(torch.eye(ckpt.embed_dim))
            self.random_projections.discard("video")
        elif ckpt.image_projection is not None and self.feature_dim == ckpt.image_projection.shape[0]:
            self.video_proj.weight.copy_(ckpt.image_projection.T)   # its pre-projection CLS features
            self.random_projections.discard("video")
        else:
            vision = "" if ckpt.image_projection is None else \
                f" or its pre-projection ones ({ckpt.image_projection.shape[0]})"
            warnings.warn(f"video features of D={self.feature_dim} are not {ckpt.family}'s projected features "
                          f"({ckpt.embed_dim}){vision}: the video projection is not zero-shot (random, or fitted by the "
                          f"ridge start in training)",
                          stacklevel=3)

    # ---- a least-squares start (projection_init="ridge", see start_projections_by_ridge in vtkit.train)
    @torch.no_grad()
    def start_text_projection(self, texts: list[str]) -> None:
        """Text projection rows <- the top ``embed_dim`` principal directions (uncentred) of the descriptions'
        adapted embeddings: near an isometry on the span they occupy, where a random projection distorts it.
        With fewer descriptions than ``embed_dim``, the rows past their number start at zero."""
        with _eval_mode(self):
            x = self.text_adapter(self.pooled_text(list(texts))).double()
        basis = torch.linalg.svd(x, full_matrices=False).Vh
        k = min(self.config.embed_dim, basis.shape[0])
        weight = torch.zeros(self.text_proj.weight.shape, dtype=torch.float64, device=basis.device)
        weight[:k] = basis[:k]
        self.text_proj.weight.copy_(weight)

    @torch.no_grad()
    def fit_video_projection(self, pairs, ridge: float = RIDGE) -> int:
        """Video projection <- ridge regression, with an intercept, of target embeddings on standardised
        :meth:`video_inputs`: ``pairs`` yields ``(chunk features [B, ...], targets [B, E])``. ``ridge`` is per
        pair (the penalty is ``ridge * n``). Returns the number of pairs ``n``; statistics accumulate in float64,
        so any number of batches fits in memory."""
        n, sums, shift = 0, None, None
        with _eval_mode(self):
            for features, targets in pairs:
                x = self.video_inputs(features).double()
                y = torch.as_tensor(targets, device=x.device).double()
                shift = x.mean(0) if shift is None else shift   # sums about a reference: exact variances
                x = x - shift
                batch = (x.sum(0), y.sum(0), x.T @ x, x.T @ y)
                sums = batch if sums is None else tuple(a + b for a, b in zip(sums, batch))
                n += len(x)
        if n < 2:
            raise VtkitError(f"fitting the video projection needs at least 2 chunks covered by a description, "
                             f"got {n}", field="projection_init")
        sx, sy, sxx, sxy = (s / n for s in sums)
        cov = sxx - torch.outer(sx, sx)
        var = cov.diagonal().clamp_min(0)
        live = var > 1e-12 * (1 + (sx + shift) ** 2)   # an input that never varies gets no weight
        std = torch.where(live, var.sqrt(), torch.ones_like(var))
        corr = (cov / torch.outer(std, std)) * torch.outer(live, live)
        cross = ((sxy - torch.outer(sx, sy)) / std[:, None]) * live[:, None]
        eye = torch.eye(len(corr), dtype=corr.dtype, device=corr.device)
        weight = torch.linalg.solve(corr + ridge * eye, cross) / std[:, None]     # [D, E] on raw inputs
        self.video_proj.weight.copy_(weight.T)
        self.video_proj.bias.copy_(sy - (sx + shift) @ weight)
        return n

    def build_info(self) -> dict:
        """What rebuilds this model: ``DualEncoder.from_config(ModelConfig.from_dict(model_config), feature_dim)``."""
        return {"model_config": self.config.to_dict(), "feature_dim": self.feature_dim}

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def train(self, mode: bool = True):
        super().train(mode)
        self.text_backbone.eval()  # frozen: dropout stays off
        return self

    def scale(self) -> torch.Tensor:
        """The logit scale ``exp(logit_scale)``, clamped at 100 as in CLIP."""
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    # ---- text tower
    def _run_backbone(self, texts: list[str]) -> torch.Tensor:
        """Pooled backbone output ``[K, H]`` (mean, or the LaViLa tower's own) on the model's device, in batches."""
        out = []
        for start in range(0, len(texts), TEXT_BATCH):
            batch = texts[start:start + TEXT_BATCH]
            if self.text_pools_itself:   # LaViLa's own token ids (77, zero-padded) and pooling
                enc = self.tokenizer(batch)
            else:
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=MAX_TEXT_TOKENS,
                                     return_tensors="pt")
            ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
            result = self.text_backbone(input_ids=ids, attention_mask=mask)
            out.append(result if self.text_pools_itself else mean_pool(result.last_hidden_state, mask))
        return torch.cat(out)

    def pooled_text(self, texts: list[str]) -> torch.Tensor:
        """Backbone output ``[K, H]`` (before the text adapter), through the cache when allowed."""
        if not self.text_cacheable:
            return self._run_backbone(texts)
        with torch.no_grad():
            return self.text_cache.lookup(texts, self._run_backbone).to(self.device)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """``[K]`` descriptions -> ``[K, E]`` unit vectors."""
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise VtkitError("texts must be a list of strings", field="texts")
        if not texts:
            return torch.zeros(0, self.config.embed_dim, device=self.device)
        return F.normalize(self.text_proj(self.text_adapter(self.pooled_text(texts))), dim=-1)

    # ---- video tower
    def video_inputs(self, features) -> torch.Tensor:
        """What the video projection sees: chunk features (checked) -> context pool -> adapter, ``[B, D]``."""
        x = _float_tensor(features, self.device)
        width = 2 * self.window + 1
        expected = f"[B, {width}, {self.feature_dim}]" if self.window else f"[B, {self.feature_dim}]"
        if self.window:
            if x.ndim != 3 or x.shape[1] != width or x.shape[2] != self.feature_dim:
                raise VtkitError(f"expected video features {expected} (context_window={self.window}; "
                                 f"see context_windows()), got {list(x.shape)}", field="features")
            x = self.context(x)
        elif x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise VtkitError(f"expected video features {expected}, got {list(x.shape)}", field="features")
        return self.video_adapter(x)

    def encode_video(self, features) -> torch.Tensor:
        """``[B, D]`` chunk features (``[B, 2w+1, D]`` with a context window) -> ``[B, E]`` unit vectors."""
        return F.normalize(self.video_proj(self.video_inputs(features)), dim=-1)

    def forward(self, features, texts: list[str]):
        """``(video [B, E], text [K, E], logit scale)``, ready for the losses."""
        return self.encode_video(features), self.encode_text(texts), self.scale()

    @torch.no_grad()
    def similarity(self, features, texts: list[str], batch_size: int = 1024) -> np.ndarray:
        """Cosine similarity ``[K, N]`` between ``K`` descriptions and a video's ``[N, D]`` chunk features."""
        with _eval_mode(self):
            feats = _float_tensor(features, self.device)
            if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
                raise VtkitError(f"expected a video's features [N, {self.feature_dim}], got {list(feats.shape)}",
                                 field="features")
            text = self.encode_text(texts)
            sims = [torch.zeros(len(text), 0, device=self.device)]
            for start in range(0, feats.shape[0], batch_size):
                rows = torch.arange(start, min(start + batch_size, feats.shape[0]), device=self.device)
                x = context_windows(feats, self.window, rows) if self.window else feats[rows]
                sims.append(text @ self.encode_video(x).T)
            return torch.cat(sims, dim=1).float().cpu().numpy()   # float(): under autocast it may be bf16

    # ---- checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the frozen backbone (block adapters appear under ``text_block_adapters.``)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("text_backbone.")}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = self.trainable_state_dict()
        if "video_proj.bias" not in state:   # saved before the video projection had a bias: it was zero
            state = {**state, "video_proj.bias": torch.zeros_like(own["video_proj.bias"])}
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or wrong:
            raise VtkitError(f"checkpoint does not match the model: missing {missing[:5]}, unexpected "
                             f"{unexpected[:5]}, wrong shape {wrong[:5]}", field="checkpoint")
        self.load_state_dict(state, strict=False)


class _eval_mode:
    """Eval mode (dropout off) inside the block, the module's own mode after it."""

    def __init__(self, module: nn.Module):
        self.module, self.was = module, module.training

    def __enter__(self):
        self.module.eval()

    def __exit__(self, *exc):
        self.module.train(self.was)


def count_parameters(model: nn.Module) -> dict[str, int]:
    params = list(model.parameters())
    return {"trainable": sum(p.numel() for p in params if p.requires_grad), "total": sum(p.numel() for p in params)}
