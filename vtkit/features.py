"""Video features: per-chunk ``.pt`` folders, the packed memory-mapped store, and one loader for both.

Layouts
-------
*chunks* (the original): ``VIDEO_ROOT/<video_uid>/chunk_<i>.pt``, one file per chunk ``i``
(chunk ``i`` covers ``[i * chunk_seconds, (i + 1) * chunk_seconds)``, see :mod:`vtkit.timeline`).
Each file holds one float tensor: ``[D]`` (a chunk embedding) or ``[F, D]`` (frame embeddings,
mean-pooled over the ``F`` frames into ``[D]``).

*packed*: ``OUT/<video_uid>.npy`` (float32 ``[N, D]``, opened with ``np.load(mmap_mode="r")``)
beside ``OUT/<video_uid>.json`` (chunk_seconds, feature_dim, num_chunks, frames_per_chunk,
encoder, source layout and a fingerprint of the source files), plus ``OUT/store.json`` for the
whole store. Build it with ``vtkit pack`` / :func:`pack_store`.

Rules for the chunk folders (every breach is a :class:`VtkitError` naming the video and file):

- chunk files are named ``chunk_<i>.pt`` (``i`` a non-negative integer; ``chunk_007.pt`` reads as 7);
  any other ``*.pt`` name is an error (a misnamed chunk would silently shift the timeline);
  files that are not ``*.pt`` (notes, hidden files) and subfolders are ignored;
- indices run ``0 .. N-1`` without gaps or duplicates; an empty folder is an error;
- files are read with ``torch.load(weights_only=True)``: anything but a plain tensor (a dict,
  a list, a pickle that would run code) is refused;
- floating dtypes (float16/bfloat16/float32/float64) are cast to float32; integer, bool and
  complex tensors are refused (they are labels or quantised codes, not embeddings);
- every chunk of every video has the same ``D``; NaN and Inf are refused;
- a tensor must be dense, on the CPU, strided and not quantized or nested (sparse, meta,
  quantized and nested tensors are refused, not densified behind the user's back).

Files are read as untrusted, the kit's own metadata too: a video uid that is not a plain name
(:func:`vtkit.annotations.video_uid_problem`) is never resolved to a path, and packed metadata
with a missing or ill-typed field (``chunk_seconds`` a positive finite number, ``num_chunks``
and ``feature_dim`` positive integers, ...) is refused, naming the file and field.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from vtkit.annotations import video_uid_problem
from vtkit.config import CHOICES
from vtkit.errors import VtkitError, describe
from vtkit.io import atomic_open, check_output_path, read_json, write_json
from vtkit.timeline import DEFAULT_CHUNK_SECONDS

CHUNK_NAME = re.compile(r"^chunk_(\d+)\.pt$")
STORE_FILE = "store.json"
STORES = CHOICES["feature_store"]


# ----------------------------------------------------------------------------------------------
# validation shared by every source
# ----------------------------------------------------------------------------------------------

def _as_float32(array: np.ndarray, where, video=None) -> np.ndarray:
    kind = np.asarray(array).dtype.kind
    if kind != "f":
        raise VtkitError(f"{_video(video)}features have dtype {array.dtype}; expected floating point "
                         "(integer, bool and complex values are refused, cast them deliberately if they are "
                         "real embeddings)", path=where)
    return array if array.dtype == np.float32 else array.astype(np.float32)


def _video(video) -> str:
    return f"video {video}: " if video is not None else ""


def _check_matrix(array: np.ndarray, where, video=None, names: list | None = None) -> np.ndarray:
    """Validate a ``[N, D]`` float feature matrix; returns it as float32."""
    array = _as_float32(np.asarray(array), where, video)
    if array.ndim != 2:
        raise VtkitError(f"{_video(video)}features have shape {tuple(array.shape)}; expected [N, D]", path=where)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise VtkitError(f"{_video(video)}features are empty (shape {tuple(array.shape)})", path=where)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        bad = int((~finite).sum())
        at = f"file {names[row]}" if names else f"chunk {row}"
        raise VtkitError(f"{_video(video)}features contain NaN or Inf ({bad} chunk(s), first: {at})", path=where)
    return array


def _video_path(root: Path, uid, suffix: str = "") -> Path:
    """``root/<uid><suffix>``; a uid that is not a plain name is refused (it could reach outside ``root``)."""
    problem = "is not text" if not isinstance(uid, str) else video_uid_problem(uid)
    if problem:
        raise VtkitError(f"video uid {describe(uid)} {problem}; it is never resolved to a path", path=root)
    return root / f"{uid}{suffix}"


def _number_field(meta: dict, key: str, path, kind: str = "count", optional: bool = False,
                  remedy: str = "; repack with `vtkit pack`"):
    """``meta[key]`` checked: ``kind`` "count" (an integer >= 1) or "seconds" (a finite number > 0)."""
    value = meta.get(key)
    if value is None and optional:
        return None
    if kind == "count":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and value > 0)
    if not ok:
        wanted = "an integer >= 1" if kind == "count" else "a finite number > 0"
        problem = "missing" if key not in meta else f"must be {wanted}, got {describe(value)}"
        raise VtkitError(f"{problem}{remedy}", path=path, field=key)
    return value


def _text_field(meta: dict, key: str, path) -> str | None:
    value = meta.get(key)
    if value is not None and not isinstance(value, str):
        raise VtkitError(f"must be text or null, got {describe(value)}; repack with `vtkit pack`", path=path,
                         field=key)
    return value


def read_video_metadata(path: str | Path) -> dict:
    """A packed video's ``<uid>.json``, its fields checked (the file is read as untrusted)."""
    meta = read_json(path, "feature metadata")
    if not isinstance(meta, dict):
        raise VtkitError("metadata must be a JSON object; repack with `vtkit pack`", path=path)
    _number_field(meta, "chunk_seconds", path, "seconds", optional=True)
    _number_field(meta, "num_chunks", path)
    _number_field(meta, "feature_dim", path)
    _number_field(meta, "frames_per_chunk", path, optional=True)
    _text_field(meta, "encoder", path)
    if not isinstance(meta.get("fingerprint", {}), dict):
        raise VtkitError(f"must be an object, got {describe(meta['fingerprint'])}", path=path, field="fingerprint")
    return meta


def read_store_info(path: str | Path) -> dict:
    """A packed store's ``store.json``, its fields checked (the file is read as untrusted)."""
    info = read_json(path, "feature store metadata")
    if not isinstance(info, dict):
        raise VtkitError("store metadata must be a JSON object", path=path)
    _number_field(info, "chunk_seconds", path, "seconds", optional=True)
    _number_field(info, "feature_dim", path, optional=True)
    _number_field(info, "frames_per_chunk", path, optional=True)
    _text_field(info, "encoder", path)
    return info


def check_chunk_seconds(found: float | None, wanted: float | None, where) -> None:
    """Refuse features made at another chunk length: the segments would be shifted."""
    if found is None or wanted is None:
        return
    if not math.isclose(float(found), float(wanted), rel_tol=1e-9, abs_tol=1e-9):
        raise VtkitError(f"features in {where} were made with chunk_seconds={float(found)} but the run uses "
                         f"{float(wanted)}; segments would be shifted", path=where, field="chunk_seconds")


# ----------------------------------------------------------------------------------------------
# per-chunk layout
# ----------------------------------------------------------------------------------------------

def _tensor_array(obj, where, video=None) -> np.ndarray:
    """A dense, CPU, strided floating-point tensor as float32 numpy; any other tensor is refused."""
    import torch

    if not isinstance(obj, torch.Tensor):
        raise VtkitError(f"{_video(video)}file holds a {type(obj).__name__}, expected a tensor", path=where)
    dtype = str(obj.dtype).replace("torch.", "")
    if obj.is_nested:
        problem = "is a nested tensor"
    elif obj.layout != torch.strided:
        problem = f"has layout {str(obj.layout).replace('torch.', '')} (save it with .to_dense())"
    elif obj.device.type != "cpu":
        problem = f"lives on device {obj.device.type!r}, holding no values here"
    elif obj.is_quantized:
        problem = f"is quantized ({dtype})"
    elif not obj.is_floating_point():
        problem = f"has dtype {dtype}"
    else:
        problem = None
    if problem:
        raise VtkitError(f"{_video(video)}tensor {problem}; expected dense floating point features", path=where)
    try:
        return obj.detach().to(torch.float32).numpy()
    except (RuntimeError, TypeError) as err:  # an exotic tensor subclass
        raise VtkitError(f"{_video(video)}tensor cannot be read as an array ({type(err).__name__})", path=where) from None


def _read_tensor_file(path: Path, video=None):
    """``torch.load(weights_only=True)`` a file that must hold one tensor; returns float32 numpy."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")  # quantized tensors
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # weights_only refused a global: code that would have run on load
        raise VtkitError(f"{_video(video)}refused: the file holds Python objects other than tensors (loading it "
                         "could run code); save plain tensors with torch.save(tensor, path)", path=path) from None
    except Exception as err:  # RuntimeError/EOFError (truncated or not a torch file), ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise VtkitError(f"{_video(video)}not a readable tensor file ({type(err).__name__}: {first[:120]})",
                         path=path) from None
    return _tensor_array(obj, path, video)


def chunk_files(folder: str | Path, video=None) -> list[Path]:
    """The folder's chunk files in index order, after checking names, gaps and duplicates."""
    folder = Path(folder)
    video = folder.name if video is None else video
    if not folder.is_dir():
        raise VtkitError(f"video {video}: features folder not found", path=folder)
    found: dict[int, Path] = {}
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        match = CHUNK_NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".pt"):
                raise VtkitError(f"video {video}: file name does not match chunk_<i>.pt",
                                 path=Path(entry.path))
            continue
        index = int(match.group(1))
        if index in found:
            raise VtkitError(f"video {video}: two files for chunk {index} ({found[index].name}, {entry.name})",
                             path=folder)
        found[index] = Path(entry.path)
    if not found:
        raise VtkitError(f"video {video}: no chunk_<i>.pt files in the folder", path=folder)
    n = max(found) + 1
    if len(found) != n:
        missing = sorted(set(range(n)) - set(found))
        shown = ", ".join(f"chunk_{i}.pt" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise VtkitError(f"video {video}: {len(missing)} chunk file(s) missing in 0..{n - 1}: {shown}",
                         path=folder)
    return [found[i] for i in range(n)]


def read_chunk_folder(folder: str | Path, video=None, feature_dim: int | None = None
                      ) -> tuple[np.ndarray, int | None]:
    """Load one video's chunk folder as float32 ``[N, D]`` (a plain loop over the files).

    Returns ``(features, frames_per_chunk)``; the latter is ``F`` when every chunk held ``[F, D]``
    frame embeddings with the same ``F``, else None.
    """
    folder = Path(folder)
    video = folder.name if video is None else video
    files = chunk_files(folder, video)
    rows, frames = [], set()
    for path in files:
        values = _read_tensor_file(path, video)
        if values.ndim == 2:
            if values.shape[0] == 0:
                raise VtkitError(f"video {video}: tensor has zero frames (shape {tuple(values.shape)})", path=path)
            frames.add(values.shape[0])
            values = values.mean(axis=0)
        elif values.ndim != 1:
            raise VtkitError(f"video {video}: tensor has shape {tuple(values.shape)}; expected [D] or [F, D]",
                             path=path)
        else:
            frames.add(None)
        if feature_dim is None:
            feature_dim = values.shape[0]
        elif values.shape[0] != feature_dim:
            raise VtkitError(f"video {video}: feature dimension {values.shape[0]} differs from {feature_dim} "
                             f"(D of {'the store' if not rows else files[0].name})", path=path)
        rows.append(values)
    array = _check_matrix(np.stack(rows), folder, video, names=[p.name for p in files])
    frames_per_chunk = frames.pop() if len(frames) == 1 else None
    return array, frames_per_chunk


def fingerprint(folder: str | Path) -> dict:
    """File count, total bytes and a digest of (name, size, mtime) of a folder's visible files."""
    entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)
                     if e.is_file() and not e.name.startswith("."))
    digest = hashlib.sha1("\n".join(f"{n}\t{s}\t{t}" for n, s, t in entries).encode()).hexdigest()
    return {"files": len(entries), "bytes": sum(s for _, s, _ in entries), "digest": digest}


# ----------------------------------------------------------------------------------------------
# packed layout
# ----------------------------------------------------------------------------------------------

def _read_packed(root: Path, uid: str, chunk_seconds: float | None, mmap: bool = True) -> np.ndarray:
    npy, meta_path = _video_path(root, uid, ".npy"), _video_path(root, uid, ".json")
    if not npy.is_file():
        raise VtkitError(f"no features for video {uid} (expected {npy.name})", path=root)
    if not meta_path.is_file():
        raise VtkitError(f"video {uid}: metadata {meta_path.name} missing beside {npy.name}; repack with "
                         "`vtkit pack`", path=meta_path)
    meta = read_video_metadata(meta_path)
    check_chunk_seconds(meta.get("chunk_seconds"), chunk_seconds, root)
    try:
        array = np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise VtkitError(f"video {uid}: packed features file missing", path=npy) from None
    except (ValueError, OSError, EOFError) as err:
        raise VtkitError(f"video {uid}: not a readable .npy array ({err})", path=npy) from None
    if array.dtype != np.float32 or array.ndim != 2:
        raise VtkitError(f"video {uid}: packed array is {array.dtype} {tuple(array.shape)}; expected float32 "
                         "[N, D]", path=npy)
    expected = (meta.get("num_chunks"), meta.get("feature_dim"))
    if tuple(array.shape) != expected:
        raise VtkitError(f"video {uid}: array shape {tuple(array.shape)} does not match its metadata "
                         f"{expected}; repack with `vtkit pack`", path=npy)
    return array


def write_packed(out: Path, uid: str, array: np.ndarray, meta: dict) -> None:
    # The .npy goes first: metadata (with the fingerprint) marks a finished video.
    with atomic_open(out / f"{uid}.npy", "wb") as fh:
        np.save(fh, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    write_json(out / f"{uid}.json", meta)


def _detect(root: Path, uid: str | None = None) -> str:
    if uid is not None:
        if _video_path(root, uid, ".npy").is_file():
            return "packed"
        if _video_path(root, uid).is_dir():
            return "chunks"
        raise VtkitError(f"no features for video {uid} (expected {uid}.npy or a folder {uid}/ with "
                         "chunk_<i>.pt files)", path=root)
    if (root / STORE_FILE).is_file() or any(root.glob("*.npy")):
        return "packed"
    return "chunks"


# ----------------------------------------------------------------------------------------------
# public loaders
# ----------------------------------------------------------------------------------------------

def load_video_features(root: str | Path, video_uid: str, store: str = "auto",
                        chunk_seconds: float | None = None) -> np.ndarray:
    """One video's features as float32 ``[N, D]`` from either layout.

    ``store="auto"`` reads ``<root>/<uid>.npy`` (packed; returned as a read-only memory map) when it
    exists, else the folder ``<root>/<uid>/`` (chunks). With ``chunk_seconds`` given, a packed
    video made at another chunk length is refused (chunk folders carry no such record).
    """
    if store == "auto":  # per video, not per folder: the folder may hold both layouts
        store = _detect(Path(root), video_uid)
    return FeatureStore(root, store, chunk_seconds).load(video_uid)


def _load_video(root: Path, uid: str, kind: str, chunk_seconds: float | None) -> np.ndarray:
    """One video of a store of known layout."""
    if kind == "packed":
        return _read_packed(root, uid, chunk_seconds)
    folder = _video_path(root, uid)
    if not folder.is_dir():
        raise VtkitError(f"no features for video {uid} (expected a folder {uid}/ with chunk_<i>.pt files)",
                         path=root)
    return read_chunk_folder(folder, uid)[0]


def load_features(source, chunk_seconds: float | None = None, name: str | None = None) -> np.ndarray:
    """Features of one video from anything: array/tensor ``[N, D]``, a chunk folder, a ``.npy`` or ``.pt`` file.

    Always float32 ``[N, D]``, with the same checks as the stores (dtype, shape, NaN/Inf). A packed
    ``.npy`` with its ``.json`` beside it is also checked against ``chunk_seconds``.
    """
    if isinstance(source, np.ndarray) or type(source).__module__.startswith("torch"):
        where = "<array>" if name is None else name
        if hasattr(source, "detach"):
            source = _tensor_array(source, where)
        return _check_matrix(source, where)
    path = Path(source)
    if path.is_dir():
        return read_chunk_folder(path, name)[0]
    if not path.is_file():
        raise VtkitError("features not found (expected a chunk folder, a .npy or a .pt file)", path=path)
    if path.suffix == ".npy":
        if path.with_suffix(".json").is_file():
            array = _read_packed(path.parent, path.stem, chunk_seconds)
        else:
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                raise VtkitError(f"not a readable .npy array ({err})", path=path) from None
        return _check_matrix(array, path, name)
    if path.suffix == ".pt":
        return _check_matrix(_read_tensor_file(path, name), path, name)
    raise VtkitError("unsupported features file; expected .npy, .pt or a chunk folder", path=path)


class FeatureStore:
    """Read-only access to a folder of video features (either layout), keyed by video uid.

    ``store``: "auto" (packed when ``store.json`` or any ``*.npy`` is present, else chunks),
    "chunks" or "packed". ``chunk_seconds``: what the run uses; a packed store or video made with
    another value is refused (the store at construction, a video when it is loaded).
    ``store.chunk_seconds`` is the store's recorded value, else the one asked for, else None (unknown:
    chunk folders and packed stores without ``store.json`` carry no store-wide record).
    ``cache=True`` keeps loaded videos in memory.
    """

    def __init__(self, root: str | Path, store: str = "auto", chunk_seconds: float | None = None,
                 cache: bool = False, source: Path | None = None, videos: Iterable[str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise VtkitError("feature folder not found", path=self.root)
        if store not in STORES:
            raise VtkitError(f"unknown feature store {store!r}; choose one of {', '.join(STORES)}", field="store")
        self.kind = _detect(self.root) if store == "auto" else store
        self.info: dict = {}
        if self.kind == "packed" and (self.root / STORE_FILE).is_file():
            self.info = read_store_info(self.root / STORE_FILE)
        stored = self.info.get("chunk_seconds")
        check_chunk_seconds(stored, chunk_seconds, self.root)
        self._requested = chunk_seconds if chunk_seconds is not None else stored
        self.chunk_seconds = None if self._requested is None else float(self._requested)
        self.cache = cache
        self._cache: dict[str, np.ndarray] = {}
        self._dim: int | None = self.info.get("feature_dim")
        self._uids: list[str] | None = None
        self.source = source       # the per-chunk folder this packed cache mirrors (open_store)
        self._allowed = None if videos is None else set(videos)   # its videos: stale cache entries stay hidden

    def __repr__(self) -> str:
        return (f"FeatureStore({str(self.root)!r}, kind={self.kind!r}, chunk_seconds={self.chunk_seconds}, "
                f"videos={len(self.video_uids())})")

    def video_uids(self) -> list[str]:
        if self._uids is None:
            if self.kind == "packed":
                self._uids = sorted(p.stem for p in self.root.glob("*.npy") if not p.name.startswith("."))
            else:
                self._uids = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
            if self._allowed is not None:
                self._uids = [u for u in self._uids if u in self._allowed]
        return list(self._uids)

    def __len__(self) -> int:
        return len(self.video_uids())

    def __iter__(self):
        return iter(self.video_uids())

    def __contains__(self, uid: str) -> bool:
        if self._allowed is not None and uid not in self._allowed:
            return False
        if self.kind == "packed":
            return _video_path(self.root, uid, ".npy").is_file()
        return _video_path(self.root, uid).is_dir()

    def __getitem__(self, uid: str) -> np.ndarray:
        return self.load(uid)

    def load(self, uid: str, chunk_seconds: float | None = None) -> np.ndarray:
        """``uid``'s float32 ``[N, D]`` features; a packed video made with another chunk length than
        ``chunk_seconds`` (default: the store's) is refused."""
        wanted = self._requested if chunk_seconds is None else chunk_seconds
        if uid in self._cache:
            if self.kind == "packed" and wanted is not None and wanted != self._requested:
                check_chunk_seconds(self.metadata(uid).get("chunk_seconds"), wanted, self.root)
            return self._cache[uid]
        array = _load_video(self.root, uid, self.kind, wanted)
        if self._dim is None:
            self._dim = int(array.shape[1])
        elif array.shape[1] != self._dim:
            raise VtkitError(f"video {uid}: feature dimension {array.shape[1]} differs from the store's "
                             f"{self._dim}", path=self.root / (f"{uid}.npy" if self.kind == "packed" else uid))
        if self.cache:
            array = np.array(array)  # off the memory map
            self._cache[uid] = array
        return array

    def get(self, uid: str, default=None):
        return self[uid] if uid in self else default

    @property
    def feature_dim(self) -> int:
        if self._dim is None:
            uids = self.video_uids()
            if not uids:
                raise VtkitError("feature store holds no videos", path=self.root)
            self[uids[0]]
        return int(self._dim)

    def metadata(self, uid: str) -> dict:
        """The packed video's JSON record; for chunk folders, what can be told without loading."""
        if self.kind == "packed":
            return read_video_metadata(_video_path(self.root, uid, ".json"))
        files = chunk_files(_video_path(self.root, uid), uid)
        return {"video_uid": uid, "source": "chunks", "num_chunks": len(files), "chunk_seconds": self.chunk_seconds,
                "feature_dim": self._dim, "frames_per_chunk": None, "encoder": None}


# ----------------------------------------------------------------------------------------------
# packing
# ----------------------------------------------------------------------------------------------

def open_store(root: str | Path, store: str = "auto", chunk_seconds: float | None = None,
               cache_dir: str | Path | None = None, videos: Iterable[str] | None = None, cache: bool = False,
               progress: bool = False) -> FeatureStore:
    """The feature store a run reads: per-chunk folders are packed once into ``cache_dir`` (one folder per
    source, keyed by its absolute path; a video is repacked only when its files change), so later reads
    and later runs are memory-mapped arrays; packed stores are used as they are. ``videos``: the uids
    to pack (default all); the others are left out of the cache."""
    source = FeatureStore(root, store, chunk_seconds, cache=cache)
    if source.kind != "chunks" or not cache_dir:
        return source
    folder = Path(root).resolve()
    seconds = float(chunk_seconds if chunk_seconds is not None else DEFAULT_CHUNK_SECONDS)
    key = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    target = Path(cache_dir) / f"{folder.name[:40]}-{key}-{seconds:g}s"
    wanted = [uid for uid in (videos if videos is not None else source.video_uids()) if uid in source]
    pack_store(folder, target, seconds, videos=wanted, progress=progress)
    return FeatureStore(target, "packed", chunk_seconds, cache=cache, source=folder, videos=source.video_uids())


def require_features(videos, store, skip_missing: bool = False) -> list[str]:
    """The policy for annotated videos without features: the uids to leave out (counted by the caller)
    when ``skip_missing``, else one error naming how many and which. ``store``: a FeatureStore or a dict."""
    uids = list(dict.fromkeys(v.video_uid for v in videos))
    missing = [uid for uid in uids if uid not in store]
    if missing and not skip_missing:
        raise VtkitError(f"{len(missing)} of {len(uids)} annotated videos have no features (first: "
                         f"{', '.join(missing[:3])}); set skip_missing_features=true (vtkit submit: --skip-missing) "
                         "to leave them out, counted", path=getattr(store, "root", None), field="video_root")
    return missing


@dataclass
class PackSummary:
    out: Path
    packed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # uid -> reason
    feature_dim: int | None = None
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS

    def __str__(self) -> str:
        lines = [f"packed {len(self.packed)}, unchanged {len(self.unchanged)}, skipped {len(self.skipped)} "
                 f"-> {self.out} (D={self.feature_dim}, chunk_seconds={self.chunk_seconds})"]
        lines += [f"  skipped {uid}: {reason}" for uid, reason in self.skipped.items()]
        return "\n".join(lines)


def _source_videos(video_root: Path) -> list[Path]:
    if not video_root.is_dir():
        raise VtkitError("video feature folder not found", path=video_root)
    folders = sorted((Path(e.path) for e in os.scandir(video_root) if e.is_dir() and not e.name.startswith(".")),
                     key=lambda p: p.name)
    if not folders:
        raise VtkitError("no video folders (expected <video_uid>/chunk_<i>.pt)", path=video_root)
    return folders


def pack_store(video_root: str | Path, out: str | Path, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
               frames_per_chunk: int | None = None, encoder: str | None = None, skip_bad: bool = False,
               videos: Iterable[str] | None = None, progress: bool = True) -> PackSummary:
    """Pack ``video_root/<uid>/chunk_<i>.pt`` folders into ``out/<uid>.npy`` + ``.json`` (+ ``store.json``).

    Videos whose source fingerprint and settings match their existing metadata are left as they
    are. A bad video raises :class:`VtkitError`, or with ``skip_bad=True`` is skipped and reported.
    ``videos`` restricts packing to those uids.
    """
    from tqdm.auto import tqdm

    video_root, out = Path(video_root), Path(out)
    chunk_seconds = float(_number_field({"chunk_seconds": chunk_seconds}, "chunk_seconds", None, "seconds", remedy=""))
    _number_field({"frames_per_chunk": frames_per_chunk}, "frames_per_chunk", None, optional=True, remedy="")
    check_output_path(out / STORE_FILE)  # before any video is packed: a store that cannot be finished is not begun
    folders = _source_videos(video_root)
    if videos is not None:
        wanted = set(videos)
        folders = [f for f in folders if f.name in wanted]
    info = read_store_info(out / STORE_FILE) if (out / STORE_FILE).is_file() else {}
    check_chunk_seconds(info.get("chunk_seconds"), chunk_seconds, out)
    if encoder and info.get("encoder") and info["encoder"] != encoder:
        raise VtkitError(f"store holds features of encoder {info['encoder']!r}, not {encoder!r}; pack into "
                         "another folder", path=out, field="encoder")
    encoder = encoder or info.get("encoder")
    summary = PackSummary(out=out, feature_dim=info.get("feature_dim"), chunk_seconds=chunk_seconds)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for folder in tqdm(folders, desc="pack", unit="video", disable=not progress):
            uid = folder.name
            try:
                source = fingerprint(folder)
                meta_path = _video_path(out, uid, ".json")
                if meta_path.is_file() and (out / f"{uid}.npy").is_file():
                    try:
                        old = read_video_metadata(meta_path)
                    except VtkitError:  # a damaged record of an earlier pack: pack the video again
                        old = {}
                    same = (old.get("fingerprint") == source and old.get("chunk_seconds") == chunk_seconds
                            and (encoder is None or old.get("encoder") == encoder)
                            and (frames_per_chunk is None or old.get("frames_per_chunk") == frames_per_chunk))
                    if same:
                        summary.feature_dim = summary.feature_dim or old.get("feature_dim")
                        summary.unchanged.append(uid)
                        continue
                array, frames = read_chunk_folder(folder, uid, feature_dim=summary.feature_dim)
                if frames_per_chunk is not None and frames is not None and frames != frames_per_chunk:
                    raise VtkitError(f"video {uid}: chunks hold {frames} frames, not frames_per_chunk="
                                     f"{frames_per_chunk}", path=folder)
                meta = {"video_uid": uid, "chunk_seconds": chunk_seconds, "feature_dim": int(array.shape[1]),
                        "num_chunks": int(array.shape[0]), "frames_per_chunk": frames_per_chunk or frames,
                        "encoder": encoder, "source": "chunks", "source_path": str(folder.resolve()),
                        "fingerprint": source}
                write_packed(out, uid, array, meta)
                summary.feature_dim = int(array.shape[1])
                summary.packed.append(uid)
            except VtkitError as err:
                if not skip_bad:
                    raise
                summary.skipped[uid] = str(err)
    except BaseException:
        if created:  # the folder this pack made, unless a video was packed into it
            with contextlib.suppress(OSError):
                out.rmdir()
        raise

    write_store_info(out, chunk_seconds, summary.feature_dim, encoder, frames_per_chunk, "chunks")
    return summary


def write_store_info(out: Path, chunk_seconds: float, feature_dim: int | None, encoder: str | None,
                     frames_per_chunk: int | None, source: str, **extra) -> Path:
    """A packed store's ``store.json``, counting the videos packed in ``out`` (written last, atomically)."""
    count = sum(1 for p in out.glob("*.json") if p.name != STORE_FILE and p.with_suffix(".npy").is_file())
    return write_json(out / STORE_FILE, {"chunk_seconds": chunk_seconds, "feature_dim": feature_dim,
                                         "encoder": encoder, "frames_per_chunk": frames_per_chunk,
                                         "videos": count, "source": source, **extra})


def cli_pack(argv: list[str]) -> int:
    from vtkit.options import ArgumentParser, positive_float, positive_int

    parser = ArgumentParser(prog="vtkit pack", description="Pack per-chunk features "
                            "(VIDEO_ROOT/<video_uid>/chunk_<i>.pt) into memory-mapped arrays.")
    parser.add_argument("video_root", help="folder of <video_uid>/chunk_<i>.pt")
    parser.add_argument("out", help="output folder (<video_uid>.npy + .json, store.json)")
    parser.add_argument("--chunk-seconds", type=positive_float, default=DEFAULT_CHUNK_SECONDS)
    parser.add_argument("--encoder", default=None, help="name of the video encoder, recorded in the metadata")
    parser.add_argument("--frames-per-chunk", type=positive_int, default=None)
    parser.add_argument("--skip-bad", action="store_true", help="skip and report bad videos instead of stopping")
    args = parser.parse_args(argv)
    summary = pack_store(args.video_root, args.out, chunk_seconds=args.chunk_seconds,
                         frames_per_chunk=args.frames_per_chunk, encoder=args.encoder, skip_bad=args.skip_bad)
    print(summary)
    return 0
