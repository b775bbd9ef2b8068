"""Training samples: (video chunk, positive step text, negative step texts).

Rules
-----
- **Texts.** Step descriptions are indexed once in ``dataset.texts``; two descriptions equal up to
  case and whitespace share one id. Samples carry text ids so a model embeds each unique text once.
- **Positives.** Chunk ``c`` of a video is covered by a query when ``c`` lies in the query's
  ``chunk_span(chunk_seconds)``, clipped to the video's ``N`` feature chunks. When queries overlap,
  every distinct covering text is a positive: one sample per (chunk, covering text) pair. With
  ``level="finest"`` a chunk that a substep covers has only its substeps' texts as positives (its step's
  text still covers it, so is never its negative), other chunks their steps' texts.
- **Negatives.** Drawn among unique texts that differ from the positive *and* from every text
  covering that chunk (a repeated step text is never its own negative).
  ``"hard"``: other texts of the same video; ``"easy"``: texts of other videos that do not occur in
  this video; ``"mixed"``: ``ceil(R/2)`` hard (fewer when the video has fewer) then easy ones.
  An empty pool falls back to the other source. A sample's R negatives are distinct when its pool holds at least that many texts,
  otherwise they are drawn with repetition.
- **Negative chunks.** With ``negative_chunks=M``, each sample also carries M chunks of its own video,
  drawn uniformly over the goal segment, as negatives of its *text* (a text-to-chunk term of the loss);
  a drawn chunk that the positive text covers (anywhere, a repeated text included) is marked invalid
  (``negative_chunk_valid``) and left out by the loss. Background samples get none valid.
  With ``negative_chunk_window=W > 0``, ``ceil(M/2)`` of them are drawn instead within W chunks
  before or after the positive text's run that holds the chunk (the neighbours that set its
  boundaries: sibling substeps, the adjacent steps), inside the goal segment; a run with no room on
  either side draws over the goal segment.
- **Background.** Chunks inside the goal segment (the whole video when the goal has no times) that
  no query covers. ``background_ratio`` adds ``round(ratio * positives)`` background samples, chosen
  once from ``seed`` (all of them, repeated, if more are asked than exist). They have
  ``positive = -1`` and hard negatives drawn among all the video's texts: a loss may use them as
  pure negatives (push the chunk away from every text) or mask them out.
- **Determinism.** A sample's negatives are a function of ``(seed, epoch, index)`` only (a
  counter-based SplitMix64 hash), so batch and item paths, worker processes and resumed runs agree.
  Call ``set_epoch(epoch)`` each epoch, as with ``DistributedSampler``; with
  ``persistent_workers=True`` the workers keep the epoch they were started with.
- **Speed.** ``get_batch(indices)`` (also ``__getitems__``, which ``DataLoader`` calls for a whole
  batch) is vectorised; pass ``collate_fn=dataset.collate`` (or use ``dataset.loader()``) so the ready
  batch goes through as is; the default collate also works, item by item and much slower.
  Features of all used videos are held in one in-memory array.
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence as SequenceABC
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vtkit.config import CHOICES
from vtkit.annotations import check_goal_within
from vtkit.errors import VtkitError
from vtkit.features import FeatureStore, load_features, require_features
from vtkit.text import same_text_key
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, goal_chunk_range

SOURCES = CHOICES["negative_source"]
LEVELS = {"step": ("step",), "substep": ("substep",), "both": ("step", "substep"), "finest": ("step", "substep")}
NEGATIVE_CHUNK_KEYS = ("negative_chunk_features", "negative_chunk_valid")
_MASK64 = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _uniforms(seed: int, epoch: int, index: np.ndarray, draws: int) -> np.ndarray:
    """``[len(index), draws]`` uniforms in [0, 1) that depend only on (seed, epoch, index, draw)."""
    key = _splitmix64(np.array([seed & _MASK64], dtype=np.uint64))
    key = _splitmix64(key ^ np.uint64(epoch & _MASK64))[0]
    with np.errstate(over="ignore"):
        counter = index.astype(np.uint64)[:, None] * np.uint64(draws) + np.arange(draws, dtype=np.uint64)
        bits = _splitmix64(counter ^ key)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _sample_positions(u: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, ``k`` positions in ``[0, n)`` (Floyd's algorithm: distinct when ``n >= k``).

    ``u``: ``[B, >=max(k)]`` uniforms; entries past ``k`` in a row are left 0.
    """
    B, width = len(n), int(k.max(initial=0))
    out = np.zeros((B, max(width, 1)), dtype=np.int64)
    distinct = n >= k
    for i in range(width):
        active = i < k
        j = np.where(distinct, n - k + i, n - 1)           # Floyd draws t in [0, j]
        t = np.minimum((u[:, i] * (j + 1)).astype(np.int64), j)
        if i:
            seen = (out[:, :i] == t[:, None]).any(axis=1) & distinct
            t = np.where(seen, j, t)
        out[:, i] = np.where(active, t, 0)
    return out[:, :width]


def _run_bounds(cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, last)``, each ``[N, K]``: for every covered (chunk, column), the first and last chunk of the
    contiguous run of that column holding the chunk (undefined where not covered)."""
    n = len(cover)
    steps = np.arange(n)[:, None]
    starts = cover & ~np.vstack([np.zeros((1, cover.shape[1]), bool), cover[:-1]])
    ends = cover & ~np.vstack([cover[1:], np.zeros((1, cover.shape[1]), bool)])
    first = np.maximum.accumulate(np.where(starts, steps, -1), axis=0)
    last = np.minimum.accumulate(np.where(ends, steps, n)[::-1], axis=0)[::-1]
    return first, last


class Batch(SequenceABC):
    """A ready batch from ``__getitems__``; also reads as a list of items, so ``default_collate`` works
    (slowly) when a ``DataLoader`` is built without ``collate_fn=dataset.collate``."""

    def __init__(self, data: dict[str, torch.Tensor]):
        self.data = data

    def __len__(self) -> int:
        return len(self.data["positive"])

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        d = self.data
        item = {"features": d["features"][i], "positive": int(d["positive"][i]), "negatives": d["negatives"][i],
                "video": int(d["video"][i]), "chunk": int(d["chunk"][i])}
        item.update({k: d[k][i] for k in NEGATIVE_CHUNK_KEYS if k in d})
        return item


class VideoTextAlignmentDataset(Dataset):
    """(chunk features, positive text id, negative text ids) samples from annotated videos.

    ``videos``: :class:`vtkit.annotations.Video` objects; ``features``: a :class:`FeatureStore` or a
    mapping uid -> ``[N, D]`` array. See the module docstring for the sampling rules.
    """

    def __init__(self, videos: Sequence, features: FeatureStore | Mapping, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 negative_ratio: int = 4, negative_source: str = "mixed", background_ratio: float = 0.0,
                 context_window: int = 0, seed: int = 0, level: str = "step", skip_missing: bool = False,
                 negative_chunks: int = 0, negative_chunk_window: int = 0):
        if negative_source not in SOURCES:
            raise VtkitError(f"unknown negative_source {negative_source!r}; choose one of {', '.join(SOURCES)}",
                             field="negative_source")
        if level not in LEVELS:
            raise VtkitError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}", field="level")
        for name, value in (("negative_ratio", negative_ratio), ("context_window", context_window),
                            ("negative_chunks", negative_chunks), ("negative_chunk_window", negative_chunk_window)):
            if int(value) != value or value < 0:
                raise VtkitError(f"{name} must be a non-negative integer, got {value!r}", field=name)
        if background_ratio < 0:
            raise VtkitError(f"background_ratio must be >= 0, got {background_ratio!r}", field="background_ratio")
        self.chunk_seconds = float(chunk_seconds)
        self.negative_ratio = int(negative_ratio)
        self.negative_chunks = int(negative_chunks)
        self.negative_chunk_window = int(negative_chunk_window)
        self.negative_source = negative_source
        self.background_ratio = float(background_ratio)
        self.context_window = int(context_window)
        self.seed = int(seed)
        self.level = level
        self.epoch = 0
        self.stats: Counter = Counter()
        self.warnings: list[str] = []
        self.texts: list[str] = []
        self._build(videos, features, skip_missing)

    # ------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------

    def _text_id(self, text: str) -> int:
        key = same_text_key(text)
        tid = self._text_ids.get(key)
        if tid is None:
            tid = self._text_ids[key] = len(self.texts)
            self.texts.append(" ".join(str(text).split()))
        return tid

    def _lookup(self, features, uid: str):
        """``uid``'s features (None when absent); packed ones made at another chunk length are refused."""
        if isinstance(features, FeatureStore):
            return features.load(uid, self.chunk_seconds) if uid in features else None
        value = features.get(uid)
        return None if value is None else load_features(value, chunk_seconds=self.chunk_seconds, name=uid)

    def _warn(self, counter: str, message: str) -> None:
        self.stats[counter] += 1
        self.warnings.append(message)

    def _build(self, videos, features, skip_missing: bool) -> None:
        levels = LEVELS[self.level]
        self._text_ids: dict[str, int] = {}
        self.videos, self.video_uids = [], []
        feats, video_texts = [], []
        pos_parts, bg_parts = [], []     # (video, chunk, text or -1, pattern key, column of the text or -1,
        #                                  first and last chunk of the text's run holding the chunk)
        covers, goal_ranges = [], []
        patterns: dict[tuple[int, bytes], int] = {}
        pool_members: list[np.ndarray] = []
        dim = None
        for video in videos:
            uid = video.video_uid
            queries = [q for q in video.queries if q.level in levels]
            if not queries:
                self._warn("videos_without_steps", f"video {uid}: no {self.level} queries; skipped")
                continue
            array = self._lookup(features, uid)
            if array is None:
                require_features([video], {}, skip_missing)   # the one missing-features policy
                self._warn("videos_without_features", f"video {uid}: no features; skipped")
                continue
            n = int(array.shape[0])
            spans = []
            for q in queries:
                if q.start is None:
                    self._warn("queries_without_times", f"video {uid} query {q.query_idx}: no times; dropped")
                    continue
                first, last = q.chunk_span(self.chunk_seconds)
                if first >= n or last < 0:
                    self._warn("queries_outside_features", f"video {uid} query {q.query_idx}: chunks "
                               f"{first}..{last} outside the {n} feature chunks; dropped")
                    continue
                spans.append((self._text_id(q.description), first, min(last, n - 1), q.level == "substep"))
            if not spans:
                self._warn("videos_without_steps", f"video {uid}: no usable {self.level} queries; skipped")
                continue
            if dim is None:     # set by the first video kept: a skipped video's D decides nothing
                dim = int(array.shape[1])
            elif array.shape[1] != dim:
                raise VtkitError(f"video {uid}: feature dimension {array.shape[1]} differs from {dim} of "
                                 f"video {self.video_uids[0]}")
            v = len(self.videos)
            self.videos.append(video)
            self.video_uids.append(uid)
            feats.append(np.asarray(array, dtype=np.float32))
            local = np.array(sorted({tid for tid, _, _, _ in spans}), dtype=np.int64)
            video_texts.append(local)
            cover = np.zeros((n, len(local)), dtype=bool)
            by_substeps = np.zeros_like(cover) if self.level == "finest" else None
            for tid, first, last, is_substep in spans:
                column = np.searchsorted(local, tid)
                cover[first:last + 1, column] = True
                if is_substep and by_substeps is not None:
                    by_substeps[first:last + 1, column] = True
            # "finest": a chunk under a substep trains on its substeps' texts only; its step's text still
            # covers it (in ``cover``), so is never its negative there
            positive = cover if by_substeps is None else np.where(by_substeps.any(axis=1, keepdims=True),
                                                                  by_substeps, cover)

            def pool_of(row: np.ndarray) -> int:
                key = (v, np.packbits(row).tobytes())
                if key not in patterns:
                    patterns[key] = len(pool_members)
                    pool_members.append(local[~row])
                return patterns[key]

            chunk, col = np.nonzero(positive)
            if self.negative_chunk_window:   # only the windowed draw reads the runs
                run_first, run_last = (b[chunk, col] for b in _run_bounds(cover))
            else:
                run_first = run_last = chunk
            rows, inverse = np.unique(cover[chunk], axis=0, return_inverse=True)
            pools = np.array([pool_of(r) for r in rows], dtype=np.int64)[inverse.reshape(-1)]
            pos_parts.append(np.stack([np.full(len(chunk), v), chunk, local[col], pools, col, run_first, run_last],
                                      axis=1))
            covers.append(cover)

            goal = (video.start_time, video.end_time) if video.end_time is not None else None
            check_goal_within(video, n, self.chunk_seconds, getattr(features, "root", None))
            lo, hi = goal_chunk_range(goal, n, self.chunk_seconds)
            goal_ranges.append((lo, hi))
            background = np.arange(lo, hi + 1)
            background = background[~cover[background].any(axis=1)]
            every_text = pool_of(np.zeros(len(local), dtype=bool))
            bg_parts.append(np.stack([np.full(len(background), v), background,
                                      np.full(len(background), -1), np.full(len(background), every_text),
                                      np.full(len(background), -1), background, background], axis=1))

        if not self.videos:
            raise VtkitError(f"no video with both features and usable {self.level} queries "
                             f"({dict(self.stats) or 'no videos given'})")
        positives = np.concatenate(pos_parts).astype(np.int64)
        samples = [positives]
        n_background = int(round(self.background_ratio * len(positives)))
        candidates = np.concatenate(bg_parts).astype(np.int64)
        if n_background and not len(candidates):
            self._warn("background_unavailable", "background_ratio > 0 but no chunk is free of steps")
        elif n_background:
            rng = np.random.default_rng(self.seed)
            repeats, rest = divmod(n_background, len(candidates))
            pick = np.concatenate([np.tile(np.arange(len(candidates)), repeats),
                                   np.sort(rng.choice(len(candidates), rest, replace=False))])
            samples.append(candidates[pick])
        table = np.concatenate(samples)
        (self.sample_video, self.sample_chunk, self.sample_positive, self._pool, self._sample_col,
         self._run_first, self._run_last) = (np.ascontiguousarray(c) for c in table.T)
        # which chunks each video's texts cover, flat: index start[v] + chunk * width[v] + column
        self._cover_width = np.array([c.shape[1] for c in covers], dtype=np.int64)
        self._cover_start = np.concatenate([[0], np.cumsum([c.size for c in covers])[:-1]]).astype(np.int64)
        self._cover_flat = np.concatenate([c.reshape(-1) for c in covers])
        self._goal_lo, self._goal_hi = (np.array(x, dtype=np.int64) for x in zip(*goal_ranges))
        self.stats.update(videos=len(self.videos), positives=len(positives), background=len(table) - len(positives),
                          texts=len(self.texts))

        sizes = np.array([len(f) for f in feats], dtype=np.int64)
        self.num_chunks = sizes
        self._row_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._features = np.concatenate(feats)   # numpy: its take() gathers rows far faster than torch indexing on CPU
        self.feature_dim = dim

        self._pool_size = np.array([len(m) for m in pool_members], dtype=np.int64)
        self._pool_start = np.concatenate([[0], np.cumsum(self._pool_size)[:-1]]).astype(np.int64)
        self._pool_flat = np.concatenate(pool_members).astype(np.int64)
        # Easy pools: the complement of each video's texts, sampled by rank without materialising it.
        total = len(self.texts)
        self._excl_len = np.array([len(t) for t in video_texts], dtype=np.int64)
        self._excl_start = np.concatenate([[0], np.cumsum(self._excl_len)[:-1]]).astype(np.int64)
        self._excl_key = np.concatenate([t - np.arange(len(t)) + v * total for v, t in enumerate(video_texts)])
        self._easy_size = total - self._excl_len
        if self.negative_ratio:
            empty = (self._pool_size[self._pool] == 0) & (self._easy_size[self.sample_video] == 0)
            if empty.any():
                raise VtkitError(f"no negative text exists for {int(empty.sum())} sample(s) (e.g. video "
                                 f"{self.video_uids[self.sample_video[empty][0]]}): every text covers the chunk "
                                 "and no other video has other texts")
        if self.stats["queries_outside_features"]:
            warnings.warn(f"{self.stats['queries_outside_features']} queries lie outside their video's features "
                          "and were dropped (see dataset.warnings)", stacklevel=3)

    def video_features(self) -> dict[str, np.ndarray]:
        """uid -> float32 ``[N, D]`` features of each video in the dataset (views of the in-memory array)."""
        return {uid: self._features[start:start + n]
                for uid, start, n in zip(self.video_uids, self._row_start.tolist(), self.num_chunks.tolist())}

    # ------------------------------------------------------------------------------------------
    # sampling
    # ------------------------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose negatives are drawn (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.sample_video)

    def _negatives(self, index: np.ndarray) -> np.ndarray:
        R = self.negative_ratio
        B = len(index)
        if R == 0:
            return np.zeros((B, 0), dtype=np.int64)
        video = self.sample_video[index]
        pool = self._pool[index]
        hard_n, easy_n = self._pool_size[pool], self._easy_size[video]
        want_hard = {"hard": R, "easy": 0, "mixed": (R + 1) // 2}[self.negative_source]
        k_hard = np.full(B, want_hard, dtype=np.int64)
        if self.negative_source == "mixed":     # hand the slots a small hard pool cannot fill to easy
            k_hard = np.minimum(k_hard, hard_n)
        k_hard[hard_n == 0] = 0
        k_hard[easy_n == 0] = R
        u = _uniforms(self.seed, self.epoch, index, 2 * R)
        hard_pos = _sample_positions(u[:, :R], hard_n, k_hard)
        easy_pos = _sample_positions(u[:, R:], easy_n, R - k_hard)
        col = np.arange(R)
        hard_ids = self._pool_flat[np.minimum(self._pool_start[pool][:, None] + hard_pos,
                                              max(len(self._pool_flat) - 1, 0))] if hard_pos.size else hard_pos
        if easy_pos.size:
            total = len(self.texts)
            below = np.searchsorted(self._excl_key, easy_pos + (video * total)[:, None], side="right")
            easy_ids = easy_pos + below - self._excl_start[video][:, None]
        else:
            easy_ids = easy_pos
        out = np.empty((B, R), dtype=np.int64)
        is_hard = col < k_hard[:, None]
        if hard_ids.shape[1]:
            out[:, :hard_ids.shape[1]] = hard_ids
        if easy_ids.shape[1]:
            shifted = np.take_along_axis(easy_ids, np.clip(col - k_hard[:, None], 0, easy_ids.shape[1] - 1), axis=1)
            out = np.where(is_hard, out, shifted)
        return out

    def _feature_rows(self, video: np.ndarray, chunk: np.ndarray) -> np.ndarray:
        w = self.context_window
        if w == 0:
            return self._row_start[video] + chunk
        offsets = np.arange(-w, w + 1)
        local = np.clip(chunk[:, None] + offsets, 0, (self.num_chunks[video] - 1)[:, None])
        return self._row_start[video][:, None] + local

    def _negative_chunks(self, index: np.ndarray, video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(chunks [B, M], valid [B, M])``: chunks of each sample's video over its goal segment; valid where
        the sample's positive text does not cover the chunk."""
        lo, hi = self._goal_lo[video][:, None], self._goal_hi[video][:, None]
        u = _uniforms(self.seed ^ 0x7E47C0DE, self.epoch, index, self.negative_chunks)
        chunks = np.minimum(lo + (u * (hi - lo + 1)).astype(np.int64), hi)
        W = self.negative_chunk_window
        if W:
            near = (self.negative_chunks + 1) // 2
            first, last = self._run_first[index][:, None], self._run_last[index][:, None]
            before = np.clip(first - np.maximum(lo, first - W), 0, None)       # room on each side, in the goal
            after = np.clip(np.minimum(hi, last + W) - last, 0, None)
            room = before + after
            pos = np.minimum((u[:, :near] * room).astype(np.int64), np.maximum(room - 1, 0))
            drawn = np.where(pos < before, first - before + pos, last + 1 + pos - before)
            chunks[:, :near] = np.where(room > 0, drawn, chunks[:, :near])
        col = self._sample_col[index][:, None]
        at = self._cover_start[video][:, None] + chunks * self._cover_width[video][:, None] + np.maximum(col, 0)
        valid = (col >= 0) & ~self._cover_flat[at]
        return chunks, valid

    def sample_features(self, index: np.ndarray) -> torch.Tensor:
        """Features of samples ``index`` (in range, non-negative): ``[B, D]``, ``[B, 2w+1, D]`` with context."""
        rows = self._feature_rows(self.sample_video[index], self.sample_chunk[index])
        return torch.from_numpy(self._features.take(rows, axis=0))

    def positive_pairs(self, batch_size: int = 1024):
        """``(features, positive text ids)`` of the samples with a description, in order and in batches;
        no negatives drawn (what a fit on the pairs alone needs)."""
        positives = np.flatnonzero(self.sample_positive >= 0)
        for start in range(0, len(positives), batch_size):
            index = positives[start:start + batch_size]
            yield self.sample_features(index), torch.from_numpy(self.sample_positive[index])

    def get_batch(self, indices) -> dict[str, torch.Tensor]:
        """Samples ``indices`` as one batch: features ``[B, D]`` (``[B, 2w+1, D]``), positive ``[B]``,
        negatives ``[B, R]``, video ``[B]``, chunk ``[B]`` (all long but features); with
        ``negative_chunks=M`` also ``negative_chunk_features`` ``[B, M, D]`` (``[B, M, 2w+1, D]``) and
        ``negative_chunk_valid`` ``[B, M]`` (bool)."""
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"sample index out of range for a dataset of {n}")
        index = np.where(index < 0, index + n, index)
        video, chunk = self.sample_video[index], self.sample_chunk[index]
        out = {"features": self.sample_features(index), "positive": torch.from_numpy(self.sample_positive[index]),
               "negatives": torch.from_numpy(self._negatives(index)), "video": torch.from_numpy(video),
               "chunk": torch.from_numpy(chunk)}
        if self.negative_chunks:
            chunks, valid = self._negative_chunks(index, video)
            M = self.negative_chunks
            rows = self._feature_rows(np.repeat(video, M), chunks.reshape(-1))
            feats = self._features.take(rows, axis=0)
            out["negative_chunk_features"] = torch.from_numpy(feats.reshape(len(index), M, *feats.shape[1:]))
            out["negative_chunk_valid"] = torch.from_numpy(valid)
        return out

    def __getitems__(self, indices) -> "Batch":
        """What ``DataLoader`` calls for a whole batch; ``collate`` unwraps it with no per-item work."""
        return Batch(self.get_batch(indices))

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for a dataset of {n}")
        return Batch(self.get_batch([i]))[0]

    @staticmethod
    def collate(batch) -> dict[str, torch.Tensor]:
        """Stack item dicts into a batch; a batch from ``get_batch`` passes through unchanged."""
        if isinstance(batch, Batch):
            return batch.data
        if isinstance(batch, Mapping):
            return dict(batch)
        out = {"features": torch.stack([b["features"] for b in batch]),
               "positive": torch.tensor([b["positive"] for b in batch], dtype=torch.long),
               "negatives": torch.stack([b["negatives"] for b in batch]).long(),
               "video": torch.tensor([b["video"] for b in batch], dtype=torch.long),
               "chunk": torch.tensor([b["chunk"] for b in batch], dtype=torch.long)}
        out.update({k: torch.stack([b[k] for b in batch]) for k in NEGATIVE_CHUNK_KEYS if batch and k in batch[0]})
        return out

    def loader(self, batch_size: int = 256, shuffle: bool = True, **kwargs) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` that fetches whole batches through :meth:`get_batch`."""
        return torch.utils.data.DataLoader(self, batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate,
                                           **kwargs)

    def __repr__(self) -> str:
        return (f"VideoTextAlignmentDataset({len(self)} samples: {self.stats['positives']} positive, "
                f"{self.stats['background']} background; {len(self.videos)} videos, {len(self.texts)} texts, "
                f"R={self.negative_ratio} {self.negative_source}, M={self.negative_chunks}"
                + (f" (W={self.negative_chunk_window})" if self.negative_chunk_window else "")
                + f", w={self.context_window}"
                + "".join(f"; {n} {what.replace('_', ' ')} skipped" for what, n in sorted(self.stats.items())
                          if what.startswith("videos_without") and n) + ")")
