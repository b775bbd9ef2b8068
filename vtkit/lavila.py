"""LaViLa dual-encoder checkpoints: safe loading, the text and visual towers built from them.

A LaViLa checkpoint as released (``.pth``) is a dict with ``state_dict`` (keys prefixed ``module.``),
``args`` (an ``argparse.Namespace``), ``epoch``, ``optimizer``, ``scaler`` and ``best_acc1``;
converted copies may hold only ``state_dict``, or be a bare state dict. It is read with
``torch.load(weights_only=True)``, allowing ``argparse.Namespace`` and nothing else: any other
pickled object is refused before its code can run. Tensor shapes define the architecture (width,
depth, embedding size; heads = width // 64 as in CLIP); ``args.model`` names the family, else it is
inferred from the keys.

Families (LaViLa's ``lavila/models/models.py``):

=============================================  ==================================  ===============
family                                         text tower                          visual tower
=============================================  ==================================  ===============
``CLIP_OPENAI_TIMESFORMER_BASE``               CLIP transformer 512 x 12, BPE      ViT-B/16, 768
``CLIP_OPENAI_TIMESFORMER_LARGE``              CLIP transformer 768 x 12, BPE      ViT-L/14, 1024
``CLIP_OPENAI_TIMESFORMER_LARGE_336PX``        as LARGE                            ViT-L/14 @ 336
``CLIP_OPENAI_TIMESFORMER_*_DISTILBERT_BASE``  DistilBERT (``textual.*``), CLS     as above
``CLIP_HF_TIMESFORMER_DISTILBERT_BASE``        DistilBERT, CLS                     timm ViT-B/16
=============================================  ==================================  ===============

API
---
``load_lavila(path, tokenizer_dir=None, device="cpu") -> LavilaCheckpoint`` with

- ``family``, ``text_kind`` (``"clip"`` / ``"distilbert"``), ``embed_dim``, ``args`` (dict or None);
- ``text_tower``: ``nn.Module``, ``forward(input_ids, attention_mask=None) -> [B, width]`` (pooled,
  before the projection); each block keeps its feed-forward part as a named submodule (CLIP:
  ``transformer.resblocks[i].mlp``, DistilBERT: ``textual.transformer.layer[i].ffn``) so an adapter
  wrapper can replace it; ``text_tower.width``;
- ``tokenize(texts) -> {"input_ids": [B, 77], "attention_mask": [B, 77]}`` (LaViLa's token ids);
- ``text_projection`` ``[width, embed]``, ``image_projection`` ``[vision_width, embed]`` or None,
  ``logit_scale`` (the stored log scale; ``logit_scale.exp()`` multiplies cosine similarities);
- ``visual``: :class:`SpaceTimeVisual` (``forward(video [B, 3, T, H, W]) -> [B, vision_width]``, the
  normed CLS) or None, with ``visual.resolution``, ``visual.num_frames``, ``visual.mean`` / ``std``
  (LaViLa's pixel normalisation, 0-255 scale);
- ``encode_text(texts) -> [B, embed]`` and ``encode_video(video) -> [B, embed]``, L2-normalised.

``is_lavila_checkpoint(path) -> bool``; ``project_video(features, ckpt, kind="auto")`` maps
pre-projection video features ``[..., vision_width]`` into the joint space (projected ones pass).

Text tokens: OpenAI's BPE (context 77, start 49406, end 49407, padding 0) through the package
``instant-clip-tokenizer`` (the vocabulary is built in) after LaViLa's cleaning (ftfy, HTML
unescaping, whitespace); lower-cased. A text longer than 75 tokens keeps its end token (LaViLa's
own tokenizer cuts it off, so its pooling would land on another token; no GoalStep description
comes near: the longest has 64 tokens).
"""
from __future__ import annotations

import argparse
import html
import math
import pickle
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vtkit.errors import VtkitError

CONTEXT_LENGTH = 77
START_TOKEN, END_TOKEN = 49406, 49407
HEAD_WIDTH = 64
# LaViLa's pixel normalisation (0-255 scale). The OPENAI families' red mean differs from CLIP's
# 122.77: it is what those models were trained and evaluated with, so it is kept.
OPENAI_MEAN, OPENAI_STD = (108.3272985, 116.7460125, 104.09373615), (68.5005327, 66.6321579, 70.32316305)
IMAGENET_MEAN, IMAGENET_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
FAMILIES = {  # family -> (text tower, visual style)
    "CLIP_OPENAI_TIMESFORMER_BASE": ("clip", "openai"),
    "CLIP_OPENAI_TIMESFORMER_LARGE": ("clip", "openai"),
    "CLIP_OPENAI_TIMESFORMER_LARGE_336PX": ("clip", "openai"),
    "CLIP_OPENAI_TIMESFORMER_BASE_DISTILBERT_BASE": ("distilbert", "openai"),
    "CLIP_OPENAI_TIMESFORMER_LARGE_DISTILBERT_BASE": ("distilbert", "openai"),
    "CLIP_OPENAI_TIMESFORMER_LARGE_336PX_DISTILBERT_BASE": ("distilbert", "openai"),
    "CLIP_HF_TIMESFORMER_DISTILBERT_BASE": ("distilbert", "hf"),
}


# ----------------------------------------------------------------------------------------------
# reading the file
# ----------------------------------------------------------------------------------------------

def read_lavila_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """``(state_dict without the "module." prefix, args as a dict or None)``, loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise VtkitError("LaViLa checkpoint not found", path=path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        try:
            with torch.serialization.safe_globals([argparse.Namespace]):
                try:
                    obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as err:  # files in the legacy (pre-zip) format cannot be memory-mapped
                    if "mmap" not in str(err):
                        raise
                    obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # refused globals, truncated files, not a torch file, ...
            if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in str(err):
                raise VtkitError("refused: the checkpoint holds Python objects other than tensors and "
                                 "argparse.Namespace (loading it could run code)", path=path) from None
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise VtkitError(f"not a readable checkpoint ({type(err).__name__}: {first[:120]})", path=path) from None
    args = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        args = obj.get("args")
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise VtkitError("not a LaViLa checkpoint: expected a state dict of tensors (or a dict with "
                         "'state_dict')", path=path)
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    return state, args if isinstance(args, dict) else None


def _text_kind_from_keys(state: dict) -> str | None:
    if "token_embedding.weight" in state:
        return "clip"
    if "textual.embeddings.word_embeddings.weight" in state:
        return "distilbert"
    return None


def is_lavila_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a file that loads safely as a LaViLa dual-encoder state dict."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        state, _ = read_lavila_checkpoint(path)
    except VtkitError:
        return False
    return is_lavila_state(state)


def is_lavila_state(state: dict) -> bool:
    """Whether a read state dict holds a LaViLa text tower with its projection."""
    return "text_projection" in state and _text_kind_from_keys(state) is not None


def _family(state: dict, args: dict | None, path) -> tuple[str, str, str]:
    """``(family, text kind, visual style)``; ``args.model`` when given, else read from the keys."""
    kind = _text_kind_from_keys(state)
    if not is_lavila_state(state):
        raise VtkitError("not a LaViLa dual encoder: no text tower (token_embedding.* or textual.*) with "
                         "text_projection", path=path, field="state_dict")
    if args and args.get("model"):
        family = str(args["model"])
        if family not in FAMILIES:
            raise VtkitError(f"unsupported LaViLa model {family!r}; supported: {', '.join(FAMILIES)}",
                             path=path, field="args.model")
        if FAMILIES[family][0] != kind:
            raise VtkitError(f"args.model is {family} but the weights hold a {kind} text tower",
                             path=path, field="args.model")
        return family, kind, FAMILIES[family][1]
    style = "openai" if "visual.ln_pre.weight" in state or "visual.cls_token" not in state else "hf"
    if style == "hf":
        return "CLIP_HF_TIMESFORMER_DISTILBERT_BASE", kind, style
    family = "CLIP_OPENAI_TIMESFORMER"
    if "visual.cls_token" in state:  # a width LaViLa never released is named by its width
        width = state["visual.cls_token"].shape[-1]
        size = {768: "BASE", 1024: "LARGE"}.get(width, f"W{width}")
        if width == 1024 and state["visual.pos_embed"].shape[1] == (336 // 14) ** 2 + 1:
            size = "LARGE_336PX"
        family += f"_{size}"
    family += "_DISTILBERT_BASE" if kind == "distilbert" else ""
    return family, kind, style


def _prefixed(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}


def _load_strict(module: nn.Module, weights: dict, path, what: str, ignore: tuple = ()) -> None:
    weights = {k: v for k, v in weights.items() if not k.endswith(ignore)} if ignore else weights
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if missing or unexpected:
        shown = ", ".join((missing + unexpected)[:4])
        raise VtkitError(f"{what} weights do not match their architecture ({len(missing)} missing, "
                         f"{len(unexpected)} unexpected: {shown})", path=path, field="state_dict")


def _count_blocks(state: dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


# ----------------------------------------------------------------------------------------------
# text towers
# ----------------------------------------------------------------------------------------------

class QuickGELU(nn.Module):
    """OpenAI CLIP's activation ``x * sigmoid(1.702 x)``."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ClipTextBlock(nn.Module):
    """Pre-norm residual block: causal self-attention, then the ``mlp`` (``c_fc``, QuickGELU, ``c_proj``)."""

    def __init__(self, width: int, heads: int, hidden: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, hidden)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(hidden, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class ClipTransformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, hidden: int):
        super().__init__()
        self.resblocks = nn.ModuleList(ClipTextBlock(width, heads, hidden) for _ in range(layers))


class ClipTextTower(nn.Module):
    """OpenAI CLIP's text transformer, pooled at the end-of-text token (the largest token id)."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, hidden: int):
        super().__init__()
        self.width, self.context_length = width, context
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.zeros(context, width))
        self.transformer = ClipTransformer(width, layers, max(1, width // HEAD_WIDTH), hidden)
        self.ln_final = nn.LayerNorm(width)

    @classmethod
    def from_state_dict(cls, state: dict, path=None) -> "ClipTextTower":
        """Built from LaViLa's top-level text keys (``token_embedding.weight``, ``transformer.*``, ...)."""
        vocab, width = state["token_embedding.weight"].shape
        layers = _count_blocks(state, "transformer.resblocks.")
        hidden = state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
        tower = cls(vocab, state["positional_embedding"].shape[0], width, layers, hidden)
        names = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.")
        _load_strict(tower, {k: v.float() for k, v in state.items() if k.startswith(names)}, path, "text tower")
        return tower

    def forward(self, input_ids, attention_mask=None):
        # Attention is causal and pooling is at the end token, so columns after the last end token
        # cannot change the result: they are cut off.
        length = int(input_ids.argmax(-1).max()) + 1
        ids = input_ids[:, :length]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        mask = torch.full((length, length), float("-inf"), device=x.device, dtype=x.dtype).triu_(1)
        for block in self.transformer.resblocks:
            x = block(x, mask)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), ids.argmax(-1)]


class DistilBertTextTower(nn.Module):
    """LaViLa's ``textual`` DistilBERT, pooled at the first ([CLS]) token."""

    def __init__(self, textual: nn.Module):
        super().__init__()
        self.textual = textual
        self.width = textual.config.dim

    @classmethod
    def from_state_dict(cls, state: dict, path=None) -> "DistilBertTextTower":
        """Built from LaViLa's ``textual.*`` keys (a transformers DistilBertModel state dict)."""
        from transformers import DistilBertConfig, DistilBertModel

        weights = _prefixed(state, "textual.")
        vocab, dim = weights["embeddings.word_embeddings.weight"].shape
        config = DistilBertConfig(
            vocab_size=vocab, dim=dim, n_layers=_count_blocks(weights, "transformer.layer."),
            n_heads=max(1, dim // HEAD_WIDTH), hidden_dim=weights["transformer.layer.0.ffn.lin1.weight"].shape[0],
            max_position_embeddings=weights["embeddings.position_embeddings.weight"].shape[0])
        tower = cls(DistilBertModel(config).eval())
        _load_strict(tower.textual, weights, path, "DistilBERT text tower", ignore=("position_ids",))
        return tower

    def forward(self, input_ids, attention_mask=None):
        return self.textual(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]


def _clean_text(text: str) -> str:
    """LaViLa's (and CLIP's) text cleaning: ftfy, HTML unescaped twice, whitespace collapsed."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


_BPE = None


def clip_tokenize(texts: list[str], context_length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """OpenAI BPE token ids ``[B, context_length]`` as LaViLa makes them (start, text, end, zeros)."""
    global _BPE
    if _BPE is None:
        try:
            import instant_clip_tokenizer
        except ImportError:
            raise VtkitError("the LaViLa CLIP text tower needs the package instant-clip-tokenizer "
                             "(pip install instant-clip-tokenizer ftfy)", field="text_model") from None
        _BPE = instant_clip_tokenizer.Tokenizer()
    if isinstance(texts, str):
        texts = [texts]
    ids = _BPE.tokenize_batch([_clean_text(str(t)).lower() for t in texts], context_length)
    return torch.from_numpy(ids.astype("int64"))


# ----------------------------------------------------------------------------------------------
# visual tower (LaViLa's SpaceTimeTransformer, "frozen-in-time" attention)
# ----------------------------------------------------------------------------------------------

class VarAttention(nn.Module):
    """Divided attention: the CLS token attends to every token; each patch token attends to the CLS
    and the tokens of its own frame (space) or of its own position across frames (time)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, frames: int, over: str):
        b, length, dim = x.shape
        h, n = self.heads, (length - 1) // frames
        q, k, v = self.qkv(x).reshape(b, length, 3, h, dim // h).permute(2, 0, 3, 1, 4)  # each [b, h, L, d]
        cls_out = F.scaled_dot_product_attention(q[:, :, :1], k, v)

        def groups(t):  # patch tokens [b, h, groups, members, d]
            t = t[:, :, 1:].reshape(b, h, frames, n, -1)
            return t if over == "space" else t.transpose(2, 3)

        qg, kg, vg = groups(q), groups(k), groups(v)
        size = (b, h, qg.shape[2], 1, qg.shape[-1])
        kg = torch.cat([k[:, :, :1, None].expand(size), kg], dim=3)
        vg = torch.cat([v[:, :, :1, None].expand(size), vg], dim=3)
        out = F.scaled_dot_product_attention(qg, kg, vg)
        if over == "time":
            out = out.transpose(2, 3)
        out = torch.cat([cls_out, out.reshape(b, h, frames * n, -1)], dim=2)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


class VisualMlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: type[nn.Module]):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), act(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SpaceTimeBlock(nn.Module):
    """LaViLa's block: time attention, space attention on (input + time output), MLP.

    As in LaViLa (frozen-in-time style), the space residual adds to the block's *input*, so the
    time attention reaches the output only through the space attention's input.
    """

    def __init__(self, dim: int, heads: int, hidden: int, act: type[nn.Module], gated: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = VarAttention(dim, heads)
        self.timeattn = VarAttention(dim, heads)
        if gated:
            self.alpha_timeattn = nn.Parameter(torch.zeros([]))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = VisualMlp(dim, hidden, act)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, frames: int):
        time_out = self.timeattn(self.norm3(x), frames, "time")
        if hasattr(self, "alpha_timeattn"):
            time_out = torch.tanh(self.alpha_timeattn) * time_out
        space = x + self.attn(self.norm1(x + time_out), frames, "space")
        return space + self.mlp(self.norm2(space))


class SpaceTimeVisual(nn.Module):
    """LaViLa's TimeSformer video tower: ``forward(video [B, 3, T, H, W]) -> [B, width]`` (normed CLS)."""

    def __init__(self, width: int, depth: int, patch: int, grid: int, num_frames: int, hidden: int,
                 style: str = "openai", gated: bool = False, patch_bias: bool = False):
        super().__init__()
        self.width, self.patch, self.num_frames = width, patch, num_frames
        self.resolution = patch * grid
        self.style = style
        self.mean, self.std = (OPENAI_MEAN, OPENAI_STD) if style == "openai" else (IMAGENET_MEAN, IMAGENET_STD)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, width, patch, patch, bias=patch_bias)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, width))
        self.temporal_embed = nn.Parameter(torch.zeros(1, num_frames, width))
        self.ln_pre = nn.LayerNorm(width) if style == "openai" else None
        act = QuickGELU if style == "openai" else nn.GELU
        heads = max(1, width // HEAD_WIDTH)
        self.blocks = nn.ModuleList(SpaceTimeBlock(width, heads, hidden, act, gated) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)

    @classmethod
    def from_state_dict(cls, state: dict, style: str = "openai", path=None) -> "SpaceTimeVisual":
        """Built from LaViLa's ``visual.*`` keys."""
        weights = _prefixed(state, "visual.")
        for name in ("head.weight", "head.bias"):  # a classification head, replaced by Identity in LaViLa
            weights.pop(name, None)
        width = weights["cls_token"].shape[-1]
        grid = math.isqrt(weights["pos_embed"].shape[1] - 1)
        tower = cls(width, _count_blocks(weights, "blocks."), weights["patch_embed.proj.weight"].shape[-1], grid,
                    weights["temporal_embed"].shape[1], weights["blocks.0.mlp.fc1.weight"].shape[0], style,
                    gated="blocks.0.alpha_timeattn" in weights, patch_bias="patch_embed.proj.bias" in weights)
        _load_strict(tower, weights, path, "visual tower")
        return tower

    def temporal(self, frames: int) -> torch.Tensor:
        """Temporal embedding for ``frames`` frames: the first ones, or bilinearly stretched (as LaViLa)."""
        if frames <= self.num_frames:
            return self.temporal_embed[:, :frames]
        return F.interpolate(self.temporal_embed[None], (frames, self.width), mode="bilinear").squeeze(0)

    def forward(self, video):
        b, _, frames, height, width = video.shape
        if height != self.resolution or width != self.resolution:
            raise VtkitError(f"visual tower takes {self.resolution}x{self.resolution} frames, got {height}x{width}")
        x = self.patch_embed.proj(video.transpose(1, 2).reshape(b * frames, 3, height, width))
        n = x.shape[-1] * x.shape[-2]
        x = x.flatten(2).transpose(1, 2).reshape(b, frames * n, self.width)
        pos = self.pos_embed[:, 1:].repeat(1, frames, 1) + self.temporal(frames).repeat_interleave(n, 1)
        x = torch.cat([self.cls_token.expand(b, -1, -1) + self.pos_embed[:, :1], x + pos], dim=1)
        if self.ln_pre is not None:
            x = self.ln_pre(x)
        for block in self.blocks:
            x = block(x, frames)
        return self.norm(x[:, 0])

    def normalize(self, frames_uint8: torch.Tensor) -> torch.Tensor:
        """0-255 RGB frames ``[..., 3, H, W]`` -> the tower's normalised float input."""
        mean = torch.tensor(self.mean, device=frames_uint8.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=frames_uint8.device).view(3, 1, 1)
        return (frames_uint8.float() - mean) / std


# ----------------------------------------------------------------------------------------------
# the checkpoint
# ----------------------------------------------------------------------------------------------

@dataclass
class LavilaCheckpoint:
    """A LaViLa dual encoder read from a checkpoint (see the module docstring)."""

    path: Path
    family: str
    text_kind: str
    args: dict | None
    text_tower: nn.Module
    text_projection: torch.Tensor
    image_projection: torch.Tensor | None
    logit_scale: torch.Tensor
    visual: SpaceTimeVisual | None
    tokenizer: object | None = None   # DistilBERT: a transformers tokenizer

    @property
    def embed_dim(self) -> int:
        return int(self.text_projection.shape[1])

    @property
    def device(self) -> torch.device:
        return self.text_projection.device

    def to(self, device) -> "LavilaCheckpoint":
        self.text_tower.to(device)
        if self.visual is not None:
            self.visual.to(device)
        self.text_projection = self.text_projection.to(device)
        self.logit_scale = self.logit_scale.to(device)
        if self.image_projection is not None:
            self.image_projection = self.image_projection.to(device)
        return self

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` ``[B, 77]`` (padding 0), as LaViLa's tokenizers make them."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if self.text_kind == "clip":
            ids = clip_tokenize(texts)
            return {"input_ids": ids, "attention_mask": (ids != 0).long()}
        if self.tokenizer is None:
            raise VtkitError(f"{self.family} has a DistilBERT text tower: name a local tokenizer folder "
                             "(distilbert-base-uncased, saved with save_pretrained)", path=self.path,
                             field="tokenizer_dir")
        enc = self.tokenizer(texts, padding="max_length", truncation=True, max_length=CONTEXT_LENGTH,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def encode_text(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Zero-shot text embeddings ``[B, embed_dim]``, L2-normalised."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = {k: v.to(self.device) for k, v in self.tokenize(texts[start:start + batch_size]).items()}
                out.append(self.text_tower(**batch) @ self.text_projection)
        return F.normalize(torch.cat(out), dim=-1)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Zero-shot video embeddings ``[B, embed_dim]`` from normalised clips ``[B, 3, T, H, W]``."""
        if self.visual is None or self.image_projection is None:
            raise VtkitError("the checkpoint has no visual tower", path=self.path)
        with torch.inference_mode():
            return F.normalize(self.visual(video.to(self.device)) @ self.image_projection, dim=-1)


def load_lavila(path: str | Path, tokenizer_dir: str | Path | None = None, device="cpu") -> LavilaCheckpoint:
    """Read a LaViLa dual-encoder checkpoint and build its towers (eval mode, float32)."""
    path = Path(path)
    state, args = read_lavila_checkpoint(path)
    family, kind, style = _family(state, args, path)
    if kind == "clip":
        tower = ClipTextTower.from_state_dict(state, path)
    else:
        tower = DistilBertTextTower.from_state_dict(state, path)
    visual = SpaceTimeVisual.from_state_dict(state, style, path) if "visual.cls_token" in state else None
    text_projection = state["text_projection"].float()
    if text_projection.ndim != 2 or text_projection.shape[0] != tower.width:
        raise VtkitError(f"text_projection has shape {tuple(text_projection.shape)}; expected [{tower.width}, embed]",
                         path=path, field="text_projection")
    image_projection = state.get("image_projection")
    if image_projection is not None:
        image_projection = image_projection.float()
        if visual is not None and image_projection.shape != (visual.width, text_projection.shape[1]):
            raise VtkitError(f"image_projection has shape {tuple(image_projection.shape)}; expected "
                             f"[{visual.width}, {text_projection.shape[1]}]", path=path, field="image_projection")
    tokenizer = None
    if kind == "distilbert" and tokenizer_dir is not None:
        tokenizer = _local_tokenizer(tokenizer_dir)
    logit_scale = state.get("logit_scale", torch.tensor(math.log(1 / 0.07))).float().reshape(())
    ckpt = LavilaCheckpoint(path, family, kind, args, tower.eval().requires_grad_(False), text_projection,
                            image_projection, logit_scale, visual.eval().requires_grad_(False) if visual else None,
                            tokenizer)
    return ckpt.to(device)


def _local_tokenizer(folder: str | Path):
    from transformers import AutoTokenizer

    folder = Path(folder).expanduser()
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as err:
        raise VtkitError(f"cannot load a tokenizer from this folder ({str(err).splitlines()[0][:120]})",
                         path=folder, field="tokenizer_dir") from None


def project_video(features, ckpt: LavilaCheckpoint, kind: str = "auto") -> torch.Tensor:
    """Video features ``[..., D]`` in the joint space: pre-projection ones (D = vision width) go through
    ``image_projection``; projected ones (D = embed_dim) are returned as they are.

    ``kind``: "auto" (by D), "pre-projection" or "projected".
    """
    features = torch.as_tensor(features, dtype=torch.float32)
    dim = features.shape[-1]
    vision = None if ckpt.image_projection is None else ckpt.image_projection.shape[0]
    if kind == "auto":
        kind = "pre-projection" if dim == vision and dim != ckpt.embed_dim else "projected"
    if kind == "projected":
        if dim != ckpt.embed_dim:
            raise VtkitError(f"video features have D={dim}; {ckpt.family} takes projected features of "
                             f"D={ckpt.embed_dim}" + (f" or pre-projection ones of D={vision}" if vision else ""),
                             path=ckpt.path, field="feature_dim")
        return features
    if kind != "pre-projection":
        raise VtkitError(f"unknown feature kind {kind!r}; use auto, projected or pre-projection", field="kind")
    if vision is None or dim != vision:
        raise VtkitError(f"pre-projection video features have D={dim}, but image_projection takes "
                         f"{vision}", path=ckpt.path, field="image_projection")
    return features.to(ckpt.image_projection.device) @ ckpt.image_projection
