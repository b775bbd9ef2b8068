"""Tiny LaViLa-format checkpoints and tiny videos, written by the tests themselves.

Checkpoints use LaViLa's real key names and file layout (``module.`` prefix, ``argparse.Namespace``
args, optimizer / scaler entries as plain dicts) with small widths and random weights; the CLIP
text tower keeps the real vocabulary size (49408) so the real tokenizer's ids fit.
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

VOCAB = 49408


def _randn(generator, *shape, std=0.2):
    return torch.randn(*shape, generator=generator) * std


def _layer_norm(state, name, dim, g):
    state[f"{name}.weight"] = 1 + _randn(g, dim, std=0.1)
    state[f"{name}.bias"] = _randn(g, dim, std=0.1)


def _linear(state, name, out_dim, in_dim, g, bias=True, std=None):
    state[f"{name}.weight"] = _randn(g, out_dim, in_dim, std=std or in_dim ** -0.5)
    if bias:
        state[f"{name}.bias"] = _randn(g, out_dim, std=0.05)


def clip_text_state(width=64, layers=2, embed=32, context=77, seed=0) -> dict:
    """OpenAI-CLIP text tower keys as in LaViLa (no ``module.`` prefix)."""
    g = torch.Generator().manual_seed(seed)
    s = {"token_embedding.weight": _randn(g, VOCAB, width, std=0.5),
         "positional_embedding": _randn(g, context, width, std=0.1)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        s[f"{p}.attn.in_proj_weight"] = _randn(g, 3 * width, width, std=width ** -0.5)
        s[f"{p}.attn.in_proj_bias"] = _randn(g, 3 * width, std=0.05)
        _linear(s, f"{p}.attn.out_proj", width, width, g)
        _layer_norm(s, f"{p}.ln_1", width, g)
        _linear(s, f"{p}.mlp.c_fc", 4 * width, width, g)
        _linear(s, f"{p}.mlp.c_proj", width, 4 * width, g)
        _layer_norm(s, f"{p}.ln_2", width, g)
    _layer_norm(s, "ln_final", width, g)
    s["text_projection"] = _randn(g, width, embed, std=width ** -0.5)
    s["logit_scale"] = torch.tensor(float(np.log(1 / 0.07)))
    return s


def distilbert_state(dim=64, layers=2, embed=32, vocab=120, positions=80, seed=1) -> dict:
    """``textual.*`` keys of a transformers DistilBertModel, plus ``text_projection``."""
    g = torch.Generator().manual_seed(seed)
    s = {"textual.embeddings.word_embeddings.weight": _randn(g, vocab, dim, std=0.5),
         "textual.embeddings.position_embeddings.weight": _randn(g, positions, dim, std=0.1),
         "textual.embeddings.position_ids": torch.arange(positions)[None]}   # saved by older transformers
    _layer_norm(s, "textual.embeddings.LayerNorm", dim, g)
    for i in range(layers):
        p = f"textual.transformer.layer.{i}"
        for name in ("q_lin", "k_lin", "v_lin", "out_lin"):
            _linear(s, f"{p}.attention.{name}", dim, dim, g)
        _layer_norm(s, f"{p}.sa_layer_norm", dim, g)
        _linear(s, f"{p}.ffn.lin1", 4 * dim, dim, g)
        _linear(s, f"{p}.ffn.lin2", dim, 4 * dim, g)
        _layer_norm(s, f"{p}.output_layer_norm", dim, g)
    s["text_projection"] = _randn(g, dim, embed, std=dim ** -0.5)
    s["logit_scale"] = torch.tensor(float(np.log(1 / 0.07)))
    return s


def visual_state(width=128, depth=2, patch=8, grid=4, frames=4, embed=32, ln_pre=True, gated=False, seed=2) -> dict:
    """LaViLa TimeSformer ``visual.*`` keys and ``image_projection``; time attention is random (not
    LaViLa's zero init) so that it is exercised."""
    g = torch.Generator().manual_seed(seed)
    s = {"visual.patch_embed.proj.weight": _randn(g, width, 3, patch, patch, std=(3 * patch * patch) ** -0.5),
         "visual.cls_token": _randn(g, 1, 1, width, std=0.5),
         "visual.pos_embed": _randn(g, 1, grid * grid + 1, width, std=0.2),
         "visual.temporal_embed": _randn(g, 1, frames, width, std=0.2)}
    if ln_pre:
        _layer_norm(s, "visual.ln_pre", width, g)
    else:
        s["visual.patch_embed.proj.bias"] = _randn(g, width, std=0.05)
    for i in range(depth):
        p = f"visual.blocks.{i}"
        _layer_norm(s, f"{p}.norm1", width, g)
        _linear(s, f"{p}.attn.qkv", 3 * width, width, g)
        _linear(s, f"{p}.attn.proj", width, width, g)
        _linear(s, f"{p}.timeattn.qkv", 3 * width, width, g)
        _linear(s, f"{p}.timeattn.proj", width, width, g)
        if gated:
            s[f"{p}.alpha_timeattn"] = torch.tensor(0.7)
        _layer_norm(s, f"{p}.norm3", width, g)
        _linear(s, f"{p}.mlp.fc1", 4 * width, width, g)
        _linear(s, f"{p}.mlp.fc2", width, 4 * width, g)
        _layer_norm(s, f"{p}.norm2", width, g)
    _layer_norm(s, "visual.norm", width, g)
    s["image_projection"] = _randn(g, width, embed, std=width ** -0.5)
    return s


def released_args(model: str, **extra) -> argparse.Namespace:
    """The kind of ``args`` LaViLa's training scripts save."""
    return argparse.Namespace(model=model, project_embed_dim=256, clip_length=4, lr=3e-5, betas=(0.9, 0.999),
                              metadata_aux=None, use_cls_token=False, output_dir="/checkpoint/lavila", **extra)


def save_released(path: Path, state: dict, model: str | None, layout: str = "released") -> Path:
    """Save ``state`` as LaViLa releases checkpoints (``released``), as ``state_dict`` only, or ``bare``."""
    prefixed = {f"module.{k}": v for k, v in state.items()}
    if layout == "released":
        obj = {"epoch": 5, "state_dict": prefixed, "args": released_args(model),
               "optimizer": {"state": {0: {"step": torch.tensor(10.0)}}, "param_groups": [{"lr": 3e-5, "params": [0]}]},
               "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                          "_growth_tracker": 0},
               "best_acc1": 0.0}
    elif layout == "state_dict":
        obj = {"state_dict": prefixed}
    else:
        obj = dict(state)
    torch.save(obj, path)
    return path


class MakesFile:
    """Unpickling this would create ``marker``: a checkpoint holding it must be refused unopened."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def save_code_running(path: Path, marker: Path, state: dict) -> Path:
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "args": MakesFile(marker)}, path)
    return path


# ----------------------------------------------------------------------------------------------
# videos
# ----------------------------------------------------------------------------------------------

def frame_pattern(index: int, height: int, width: int) -> np.ndarray:
    """An RGB frame with a bright top-left block and a level that grows with ``index``."""
    image = np.full((height, width, 3), (index * 7) % 200 + 20, dtype=np.uint8)
    image[: height // 4, : width // 4] = (250, 30, 30)
    return image


def write_video(path: Path, size=(97, 61), fps=25, seconds=3.0, pts_seconds=None, rotation=None,
                codec="libx264") -> list[float]:
    """Write a video with PyAV (``size`` = width x height); returns the frames' presentation times.

    ``pts_seconds`` gives irregular timestamps (variable frame rate) instead of ``fps``.
    Odd sizes are padded by one pixel for yuv420p, as encoders need even sizes.
    """
    import av

    width, height = size
    times = list(pts_seconds) if pts_seconds is not None else [i / fps for i in range(int(round(seconds * fps)))]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(times):
            image = frame_pattern(i, stream.height, stream.width)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = int(round(t * 1000))
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return times


def write_audio_only(path: Path, seconds=1.0) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = int(seconds * 16000)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, samples, frame_size):
            data = np.zeros((1, frame_size), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_corrupt(path: Path) -> Path:
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return path


def decoded_times(path: Path) -> list[float]:
    """Presentation times of every decoded frame, relative to the first (an independent read)."""
    import av

    with av.open(str(path)) as container:
        times = [f.time for f in container.decode(video=0)]
    return [t - times[0] for t in times]
