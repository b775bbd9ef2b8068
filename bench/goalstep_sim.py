"""GoalStep-scale simulated data for the benchmarks: annotations in the kit's format, features from a hidden process.

Annotations are the real GoalStep records (``goalstep_valid.json``: real times, descriptions,
taxonomy) or, without them, synthetic records of the same statistics. Features are simulated
per chunk, not worded like the queries:

- a segment's meaning mixes the MiniLM embedding of its taxonomy name (``step_category``), a
  rewording of its description (content words, stemmed, some dropped and the rest shuffled per
  instance) embedded both by MiniLM and by a random hashed bag-of-words encoder, and a random
  per-instance vector;
- a chunk inside a substep shows mostly its substep (``substep_weight`` times its step's meaning);
  overlapping steps average; uncovered chunks show idle activity (a per-video idle meaning plus
  slow drift);
- each video adds its own random offset; noise is temporal (AR(1) across chunks) plus a little
  per-chunk noise;
- a fixed hidden random 2-layer tanh MLP maps the 384-d latent to 256-d features.

Everything is seeded: a video's features depend only on the seed and its own record, so any
selection of videos gets the same features for the videos it shares.

Version 2 added the MiniLM rewording and raised ``substep_weight`` from 0.9 to 3. Both were set on
the clean-feature oracle of the 80 train videos (never the test videos, never the kit), to bring it
nearer the oracle of a reference GoalStep-scale benchmark kept outside the repository (R1@0.3 steps
0.67, substeps about 0.64): version 1's oracle could not tell a parent's substeps apart (51 % of
substep spans scored their own query above their siblings', as the taxonomy names are coarse), and
reached 25 % on substeps with aligner settings like that benchmark's (``substep_mode=parent``,
``min_len=1``, median background, no ``query_norm``); version 2's reaches 58 % there (steps 85 %).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vtkit.io import read_json, write_json
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, num_chunks, seconds_to_chunks

SIM_VERSION = 2
TEXT_DIM = 384
HIDDEN_DIM = 512
FEATURE_DIM = 256
MANIFEST = "sim.json"
TRAIN_FILE = "goalstep_train.json"
TEST_FILE = "goalstep_test_annotated.json"
STOPWORDS = frozenset("a an the and or of to in on into onto from with for at by its it his her their some".split())


@dataclass(frozen=True)
class SimConfig:
    """Weights (of unit vectors) and noise norms (of 384-d vectors) of the simulation."""

    seed: int = 0
    category_weight: float = 1.0        # MiniLM(step_category)
    paraphrase_weight: float = 0.8      # hashed encoder of the reworded description
    reworded_weight: float = 1.0        # MiniLM(reworded description)
    instance_weight: float = 0.45       # random per segment instance
    word_drop: float = 0.3              # rewording: chance to drop each content word
    substep_weight: float = 3.0         # substep meaning added on top of its step's
    idle_video_weight: float = 0.6      # per-video part of the idle meaning
    video_offset: float = 0.7
    ar_rho: float = 0.9
    ar_noise: float = 1.1
    drift_rho: float = 0.995
    drift_noise: float = 0.5            # background only
    chunk_noise: float = 0.5
    gain: float = 2.0                   # pre-tanh scale of the hidden MLP
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS


# --------------------------------------------------------------------------- annotations


def goal_seconds(record: dict) -> float:
    return float(record["end_time"]) - float(record["start_time"])


def load_goalstep_records(path: str | Path) -> list[dict]:
    """The raw video records of an annotated GoalStep file (checked by the kit's loader first)."""
    from vtkit.annotations import load_annotations

    load_annotations(path)
    return read_json(path, "GoalStep annotation")["videos"]


def _lognormal(rng: np.random.Generator, median: float, mean: float, size=None):
    sigma = math.sqrt(2 * math.log(mean / median))
    return rng.lognormal(math.log(median), sigma, size)


_VERBS = ("add", "cut", "chop", "stir", "pour", "wash", "peel", "mix", "knead", "fry", "boil", "place", "take",
          "slice", "whisk", "season", "grate", "rinse", "spread", "fold", "roll", "flip", "measure", "open",
          "close", "wipe", "serve", "heat", "drain", "press")
_OBJECTS = ("the onion", "the dough", "the flour", "the eggs", "the pan", "the pot", "the rice", "the carrots",
            "the tomatoes", "the garlic", "the oil", "the water", "the bowl", "the knife", "the lid", "the sauce",
            "the noodles", "the butter", "the salt", "the pepper", "the milk", "the bread", "the potatoes",
            "the cabbage", "the chicken", "the spoon", "the board", "the spices", "the cheese", "the batter")
_GROUPS = ("Prepare ingredients", "Cook on stove", "Make dough", "Clean up", "Serve food", "Use utensils")


def synthetic_records(n_videos: int = 134, seed: int = 0, hours: float = 62.3) -> list[dict]:
    """Annotated GoalStep-format records with the real val statistics: goals of median 20.5 / mean
    27.9 minutes (about ``hours`` in all, 0.6 to 120 min), steps of median 19 / mean 53 s covering about
    85 %, about 1.3 substeps per step (median 10 s), goal starts up to a few minutes in."""
    rng = np.random.default_rng([seed, 134])
    goals = _lognormal(rng, 20.5 * 60, 27.9 * 60, n_videos)
    goals = np.clip(goals * hours * 3600 / goals.sum(), 36.0, 7224.0)
    records = []
    for i, goal in enumerate(goals):
        start = round(float(min(rng.exponential(40.0), 530.0)), 3)
        end = round(start + float(goal), 3)
        steps, t = [], start
        while True:
            t += rng.exponential(9.3)
            dur = float(_lognormal(rng, 19.3, 52.8))
            if t + 2.0 >= end:
                break
            s_end = min(t + dur, end)
            steps.append(_synthetic_segment(rng, t, s_end, substeps=True))
            t = s_end
        uid = hashlib.sha1(f"sim-{seed}-{i}".encode()).hexdigest()
        uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
        records.append({"video_uid": uid, "start_time": start, "end_time": end,
                        "goal_category": "COOKING:COOKING_GENERAL", "goal_description": "cooks a meal",
                        "is_procedural": True, "segments": steps})
    return records


def _synthetic_segment(rng: np.random.Generator, start: float, end: float, substeps: bool) -> dict:
    verb, obj, group = (str(rng.choice(x)) for x in (_VERBS, _OBJECTS, _GROUPS))
    seg = {"start_time": round(start, 3), "end_time": round(end, 3),
           "step_category": f"{group}: {verb.capitalize()} {obj.replace('the ', '')}",
           "step_description": f"{verb}s {obj}", "is_continued": False, "is_procedural": True,
           "is_relevant": "essential", "summary": [], "segments": []}
    if substeps and end - start > 20 and rng.random() < 0.85:
        t = start
        for _ in range(int(rng.integers(1, 8))):
            t += rng.exponential(3.0)
            sub_end = min(t + float(_lognormal(rng, 10.2, 21.9)), end)
            if sub_end - t < 1.0:
                break
            sub = _synthetic_segment(rng, t, sub_end, substeps=False)
            del sub["segments"]
            seg["segments"].append(sub)
            t = sub_end
    return seg


def stratified_pick(records: Sequence[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` of ``records`` spread over the goal lengths (one drawn per length stratum), in file order."""
    if n >= len(records):
        return list(records)
    picked = _one_per_stratum(records, n, np.random.default_rng([seed, 1]))
    return [records[i] for i in sorted(picked)]


def split_records(records: Sequence[dict], n_test: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Video-level split, stratified by goal length: ``(train, test)``, each in file order."""
    test = set(_one_per_stratum(records, n_test, np.random.default_rng([seed, 2])))
    return ([r for i, r in enumerate(records) if i not in test], [r for i, r in enumerate(records) if i in test])


def _one_per_stratum(records: Sequence[dict], n: int, rng: np.random.Generator) -> list[int]:
    order = sorted(range(len(records)), key=lambda i: (goal_seconds(records[i]), records[i]["video_uid"]))
    edges = np.linspace(0, len(order), n + 1).astype(int)
    return [order[int(rng.integers(a, b))] for a, b in zip(edges[:-1], edges[1:]) if b > a]


def write_annotations(path: str | Path, records: Sequence[dict], split: str) -> Path:
    return write_json(path, {"version": "1.0", "date": "simulated", "split": split,
                             "description": "GoalStep-format annotations for simulated features",
                             "videos": list(records)}, indent=None)


def segments_of(record: dict) -> list[tuple[dict, list[dict]]]:
    """``[(step, [substeps])]`` of a video record."""
    return [(step, list(step.get("segments", []))) for step in record.get("segments", [])]


# --------------------------------------------------------------------------- text spaces


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    return _unit(rng.standard_normal(TEXT_DIM))


def content_words(text: str) -> list[str]:
    """Lower-cased, stemmed content words (a crude stand-in for rewording)."""
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS]
    stems = []
    for w in words:
        for suffix in ("ing", "es", "ed", "s"):
            if len(w) > len(suffix) + 2 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        stems.append(w)
    return stems


class HashedEncoder:
    """A random text encoder: the sum of seeded Gaussian vectors of words and their character trigrams."""

    def __init__(self, seed: int):
        self.seed = seed
        self._vectors: dict[str, np.ndarray] = {}

    def _vector(self, token: str) -> np.ndarray:
        if token not in self._vectors:
            rng = np.random.default_rng([self.seed, zlib.crc32(token.encode())])
            self._vectors[token] = rng.standard_normal(TEXT_DIM)
        return self._vectors[token]

    def encode_words(self, words: Sequence[str]) -> np.ndarray:
        total = np.zeros(TEXT_DIM)
        for w in words:
            total += self._vector("w:" + w)
            padded = f"<{w}>"
            for i in range(len(padded) - 2):
                total += 0.3 * self._vector("c:" + padded[i: i + 3])
        return _unit(total)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.encode_words(content_words(t)) for t in texts]) if texts else np.zeros((0, TEXT_DIM))


class MiniLMEncoder:
    """The kit's packaged text backbone (mean-pooled, L2-normalised, rounded to 4 decimals), cached on disk.

    Texts are encoded in length-sorted batches; the cache file (``.npz``) keeps every text ever encoded.
    """

    def __init__(self, cache: str | Path | None = None, batch_size: int = 64):
        self.cache = Path(cache) if cache else None
        self.batch_size = batch_size
        self._model = None
        self._known: dict[str, np.ndarray] = {}
        if self.cache and self.cache.is_file():
            with np.load(self.cache, allow_pickle=False) as data:
                self._known = dict(zip(json.loads(str(data["texts"])), data["vectors"]))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._known}, key=lambda t: (len(t), t))
        if missing:
            self._encode(missing)
        return np.stack([self._known[t] for t in texts]) if texts else np.zeros((0, TEXT_DIM))

    def _encode(self, texts: list[str]) -> None:
        import torch

        from vtkit.text import load_text_backbone, mean_pool

        if self._model is None:
            self._model = load_text_backbone()
        tokenizer, model = self._model
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                batch = tokenizer(texts[i: i + self.batch_size], return_tensors="pt", padding=True, truncation=True)
                emb = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]).double()
                emb = (emb / emb.norm(dim=1, keepdim=True)).numpy()
                for text, vec in zip(texts[i: i + self.batch_size], np.round(emb, 4)):
                    self._known[text] = vec
        if self.cache:
            from vtkit.io import atomic_open

            names = list(self._known)
            with atomic_open(self.cache, "wb") as fh:
                np.savez(fh, texts=np.array(json.dumps(names)), vectors=np.stack([self._known[t] for t in names]))


# --------------------------------------------------------------------------- features


@dataclass
class SimVideo:
    """One simulated video: features ``[N, 256]`` (float32), the noise-free meaning ``[N, 384]`` and the
    latent the hidden MLP maps to the features (the meaning plus the video's offset and its noise)."""

    video_uid: str
    features: np.ndarray
    meaning: np.ndarray
    background: np.ndarray          # bool [N]: chunks outside every step and substep
    latent: np.ndarray


class FeatureSimulator:
    """Simulated features for GoalStep video records (see the module docstring).

    ``category_encoder`` maps texts to unit 384-d vectors (default: MiniLM); the paraphrase
    encoder is a :class:`HashedEncoder` seeded from ``config.seed``.
    """

    def __init__(self, config: SimConfig = SimConfig(), category_encoder: Callable | None = None):
        self.config = config
        self.category_encoder = category_encoder or MiniLMEncoder()
        self.paraphrase_encoder = HashedEncoder(seed=config.seed + 7919)
        rng = np.random.default_rng([config.seed, 0])
        self.w1 = rng.standard_normal((TEXT_DIM, HIDDEN_DIM))
        self.b1 = rng.uniform(-1.0, 1.0, HIDDEN_DIM)
        self.w2 = rng.standard_normal((HIDDEN_DIM, FEATURE_DIM)) / math.sqrt(HIDDEN_DIM)
        self.b2 = 0.2 * rng.standard_normal(FEATURE_DIM)
        self.idle = _random_unit(rng)

    def prepare(self, records: Sequence[dict]) -> None:
        """Encode every taxonomy name of ``records`` at once (batched)."""
        self.category_encoder(sorted({_category(seg) for r in records for step, subs in segments_of(r)
                                      for seg in [step, *subs]}))

    def _segment_meanings(self, segments: Sequence[dict], rng: np.random.Generator) -> np.ndarray:
        """``[len(segments), 384]`` unit meanings; the rewordings of a video are embedded in one batch."""
        c = self.config
        kept, reworded, instance = [], [], []
        for seg in segments:
            words = content_words(seg["step_description"])
            kept.append([w for w in words if rng.random() >= c.word_drop] or words[:1])
            reworded.append(" ".join(rng.permutation(kept[-1])) if kept[-1] else seg["step_description"])
            instance.append(_random_unit(rng))
        if not segments:
            return np.zeros((0, TEXT_DIM))
        mix = (c.category_weight * self.category_encoder([_category(seg) for seg in segments])
               + c.paraphrase_weight * np.stack([self.paraphrase_encoder.encode_words(k) for k in kept])
               + c.reworded_weight * self.category_encoder(reworded)
               + c.instance_weight * np.stack(instance))
        return mix / np.maximum(np.linalg.norm(mix, axis=1, keepdims=True), 1e-12)

    def video(self, record: dict) -> SimVideo:
        c, uid = self.config, record["video_uid"]
        rng = np.random.default_rng([c.seed, zlib.crc32(uid.encode())])
        n = max(1, num_chunks(float(record["end_time"]), c.chunk_seconds))
        steps, step_count = np.zeros((n, TEXT_DIM)), np.zeros(n)
        subs, sub_count = np.zeros((n, TEXT_DIM)), np.zeros(n)
        placed = [(seg, total, count) for step, substeps in segments_of(record)
                  for seg, total, count in [(step, steps, step_count)] + [(s, subs, sub_count) for s in substeps]]
        for (seg, total, count), m in zip(placed, self._segment_meanings([p[0] for p in placed], rng)):
            first, last = self._span(seg, n)
            total[first: last + 1] += m
            count[first: last + 1] += 1
        background = (step_count == 0) & (sub_count == 0)
        meaning = steps / np.maximum(step_count, 1)[:, None] + \
            c.substep_weight * subs / np.maximum(sub_count, 1)[:, None]
        idle = _unit(self.idle + c.idle_video_weight * _random_unit(rng))
        meaning[background] = idle
        meaning /= np.linalg.norm(meaning, axis=1, keepdims=True)
        offset = c.video_offset * _random_unit(rng)
        noise = self._ar(rng, n, c.ar_rho, c.ar_noise) + c.chunk_noise * rng.standard_normal((n, TEXT_DIM)) / \
            math.sqrt(TEXT_DIM)
        noise[background] += self._ar(rng, n, c.drift_rho, c.drift_noise)[background]
        latent = meaning + offset + noise
        features = np.tanh(c.gain * latent @ self.w1 + self.b1) @ self.w2 + self.b2
        return SimVideo(uid, features.astype(np.float32), meaning, background, latent)

    def _span(self, seg: dict, n: int) -> tuple[int, int]:
        first, last = seconds_to_chunks(float(seg["start_time"]), float(seg["end_time"]), self.config.chunk_seconds)
        return min(first, n - 1), min(last, n - 1)

    @staticmethod
    def _ar(rng: np.random.Generator, n: int, rho: float, norm: float) -> np.ndarray:
        """AR(1) noise ``[n, 384]`` with stationary per-vector norm about ``norm``."""
        eps = rng.standard_normal((n, TEXT_DIM)) * (norm * math.sqrt(1 - rho * rho) / math.sqrt(TEXT_DIM))
        out = np.empty_like(eps)
        out[0] = eps[0] / math.sqrt(1 - rho * rho)
        for i in range(1, n):
            out[i] = rho * out[i - 1] + eps[i]
        return out


def _category(seg: dict) -> str:
    return seg.get("step_category") or seg["step_description"]


# --------------------------------------------------------------------------- data sets on disk


@dataclass
class SimData:
    """Paths of a built data set."""

    root: Path
    chunks: Path                    # <video_uid>/chunk_<i>.pt
    train: Path
    test: Path
    videos: int
    chunks_total: int

    @property
    def packed(self) -> Path:
        """The packed store (``<video_uid>.npy`` + ``.json``, ``store.json``), made by :meth:`ensure_packed`."""
        return self.root / "packed"

    def ensure_packed(self, log: Callable[[str], None] = print) -> Path:
        """Pack the chunk folders with :func:`vtkit.features.pack_store` unless already packed."""
        from vtkit.features import STORE_FILE, pack_store

        if not (self.packed / STORE_FILE).is_file():
            log("packing the features (vtkit.features.pack_store)")
            pack_store(self.chunks, self.packed, encoder="simulated", progress=False)
        return self.packed

    def video_root(self, layout: str) -> Path:
        return self.ensure_packed() if layout == "packed" else self.chunks


def write_chunk_folder(folder: Path, features: np.ndarray) -> None:
    """``folder/chunk_<i>.pt``: one plain float32 tensor ``[D]`` per chunk, as real features are stored."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(features):
        torch.save(torch.from_numpy(row.copy()), folder / f"chunk_{i}.pt")  # a copy: save only this row


def build(out: str | Path, train: Sequence[dict], test: Sequence[dict], config: SimConfig = SimConfig(),
          text_cache: str | Path | None = None, log: Callable[[str], None] = print,
          category_encoder: Callable | None = None) -> SimData:
    """Write the data set into ``out/data`` (reused as is when ``out/sim.json`` matches): the two annotation
    files and per-chunk features. ``category_encoder``: see :class:`FeatureSimulator` (default MiniLM, cached
    in ``text_cache``).

    The data is written into a temporary folder beside ``out/data`` and renamed into place when complete;
    the manifest, written last, marks a finished data set.
    """
    out = Path(out)
    manifest = {"version": SIM_VERSION, "config": asdict(config),
                "train": [r["video_uid"] for r in train], "test": [r["video_uid"] for r in test],
                "digest": hashlib.sha1(json.dumps([train, test], sort_keys=True).encode()).hexdigest()}
    data = out / "data"
    found = read_json(out / MANIFEST) if (out / MANIFEST).is_file() else None
    if found is not None and {k: found.get(k) for k in manifest} == manifest and data.is_dir():
        log(f"simulated data: reusing {data}")
        return _sim_data(data, found)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        (out / MANIFEST).unlink()
    tmp = Path(tempfile.mkdtemp(prefix=".data.", dir=out))
    try:
        write_annotations(tmp / TRAIN_FILE, train, "train")
        write_annotations(tmp / TEST_FILE, test, "test")
        sim = FeatureSimulator(config, category_encoder or MiniLMEncoder(text_cache))
        records = list(train) + list(test)
        sim.prepare(records)
        total = 0
        for i, record in enumerate(records, 1):
            video = sim.video(record)
            write_chunk_folder(tmp / "chunks" / video.video_uid, video.features)
            total += len(video.features)
            if i % 20 == 0 or i == len(records):
                log(f"simulated {i}/{len(records)} videos, {total} chunks")
        if data.exists():
            shutil.rmtree(data)
        os.replace(tmp, data)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.update(videos=len(records), chunks=total)
    write_json(out / MANIFEST, manifest)
    return _sim_data(data, manifest)


def _sim_data(data: Path, manifest: dict) -> SimData:
    return SimData(data, data / "chunks", data / TRAIN_FILE, data / TEST_FILE, manifest["videos"], manifest["chunks"])
