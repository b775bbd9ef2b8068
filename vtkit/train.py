"""Train the adapters: ``train(cfg)`` for notebooks, ``vtkit train`` for the shell.

One epoch = the training samples in a fresh order (``torch.Generator`` seeded from ``(seed, epoch)``,
negatives from ``dataset.set_epoch(epoch)``), in global batches of ``batch_size``; then validation:
val loss (negatives fixed at epoch 0), text-to-video R@1 (a step query is a hit when the best-scoring
chunk of its video's goal segment lies in the query's chunk span; the goal segment is the range the
aligners search) and alignment R1@0.3 (the notebooks' evaluation, :func:`vtkit.predict.predict_split`
with ``cfg.aligner``, scored on step queries). Both come from one similarity matrix per video. Epoch 0
is the model before any step (``TrainResult.start`` names it), so the first history row is the baseline.

With ``projection_init="ridge"`` (the default) the random projections first start as a linear probe of the
training split (:func:`start_projections_by_ridge`), so epoch 0 is that probe.

The text backbone is frozen: its pooled output for every train and val description is computed once
before training (one cache shard); each step only runs the text adapter and projection on the unique
texts of the batch (``model.encode_text``) and indexes that table by text id.

Checkpoints (``<out_dir>/checkpoints/``, ``best`` and ``last``; format in :mod:`vtkit.checkpoint`).
A loss that becomes non-finite stops the run with one line naming the likely parameters; no checkpoint of
that epoch is written. ``resume=True`` restarts after the last checkpoint's epoch; with per-epoch seeding the result equals an
uninterrupted run.

Multi-process (``torchrun``, ``WORLD_SIZE > 1``): gloo on CPU, nccl on CUDA. Every rank holds the same
model (same seed; rank 0's weights broadcast) and walks the same global order; rank ``r`` takes the
samples ``batch[r::world]`` of each global batch (no padding, nothing dropped: the last, short batch is
split as it is). Gradients of the trainable parameters are all-reduced (summed) by hand rather than
through DDP (the frozen backbone never needs syncing); InfoNCE is weighted by each rank's share of the
batch's non-background rows, so the sum is exactly the single-process gradient of the global batch. CLIP
loss gathers the video embeddings of all ranks (differentiable all-gather) and every rank computes the
loss of the whole global batch, scaled by ``1 / world`` (the gather's backward sums the ranks' copies).
Rank 0 alone validates (the row is broadcast), writes files and prints.

Test hook: with the environment variable ``VTKIT_TRAIN_KILL_AT_STEP=N`` the process SIGKILLs itself
right after optimizer step ``N`` (to test resuming).
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from vtkit.annotations import load_annotations
from vtkit.checkpoint import (nan_to_none, read_checkpoint, resolve_device, restore_checkpoint, save_checkpoint,
                              write_choices)
from vtkit.config import Config, parse_overrides
from vtkit.console import interactive_output
from vtkit.dataset import VideoTextAlignmentDataset
from vtkit.errors import VtkitError
from vtkit.options import ArgumentParser
from vtkit.features import open_store
from vtkit.io import atomic_open
from vtkit.loss import ClipLoss, InfoNCELoss
from vtkit.metrics import query_hits, score
from vtkit.model import DualEncoder, count_parameters
from vtkit.align import AlignSettings
from vtkit.predict import SUBSTEP_MODES, predict_split, resolve_substep_mode, split_windows

EVAL_COLUMNS = ("heldout_loss", "heldout_t2v_R1", "heldout_R1@0.3", "heldout_step_R1@0.3", "heldout_substep_R1@0.3")
HISTORY_COLUMNS = ("epoch", "step", "lr", "train_loss", *EVAL_COLUMNS, "seconds")
BACKGROUND_CHOICES = (30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)   # percentiles the selection split chooses among
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 1   # halve the lr after 2 epochs without a lower val loss
KILL_AT_STEP_ENV = "VTKIT_TRAIN_KILL_AT_STEP"
CHOSEN = ("substep_mode", "background_value", "substep_background_value")


@dataclass
class TrainResult:
    history: list[dict]
    history_csv: Path
    best_checkpoint: Path | None     # <out_dir>/checkpoints/best.safetensors (its state: best.json)
    last_checkpoint: Path | None
    best_metric: float
    metric: str                      # the early-stopping column
    best_epoch: int                  # the epoch of the best checkpoint (0: the model before any step)
    chosen_by: str                   # the selection split that chose the epoch and ``choices``
    choices: dict                    # CHOSEN: what the selection split chose
    selection_table: dict            # R1@0.3 tried there: "steps/<background>" (step queries) and
                                     # "<substep mode>/<substep background>" (all queries)
    selection_hits: dict             # video uid -> [R1@0.3 hits, queries] there, with the choices applied
    selection_mode_hits: dict        # substep_mode="best": mode -> {video uid: [hits, queries]} at its best background
    epochs_run: int                  # training epochs done (epoch 0 = evaluation only)
    stopped_early: bool
    trainable_params: int
    total_params: int
    seconds: float
    pairs_per_second: float
    timings: dict                    # seconds per phase: features, text embedding, each epoch's train / validate, choices
    model: DualEncoder | None = dataclasses.field(default=None, repr=False)   # the weights of the last epoch
    start: str = "untrained"         # what epoch 0 is: "untrained", "zero-shot" (LaViLa) or "ridge start"


# ---------------------------------------------------------------------------------------- schedule

def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Cosine multiplier for optimizer step ``step`` (0-based): linear warmup, then cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(cfg: Config, optimizer, total_steps: int):
    """``cosine``: per-step LambdaLR; ``plateau``: ReduceLROnPlateau on val loss, per epoch; else None."""
    if cfg.lr_schedule == "cosine":
        warmup = int(round(cfg.warmup_fraction * total_steps))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup))
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=PLATEAU_FACTOR,
                                                          patience=PLATEAU_PATIENCE)
    return None


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters; weight decay on matrices only (not on biases, norms, temperature)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


# ---------------------------------------------------------------------------------------- loss

def _gather_rows(local: torch.Tensor, size: int, world: int) -> torch.Tensor:
    """Rows of all ranks in global batch order (rank r holds global rows r, r + world, ...)."""
    from torch.distributed.nn.functional import all_gather

    m = math.ceil(size / world)
    padded = torch.cat([local, local.new_zeros(m - len(local), *local.shape[1:])])
    return torch.stack(all_gather(padded), dim=1).reshape(m * world, *local.shape[1:])[:size]


def _rows(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` as a one-hot matmul: plain indexing's backward adds rows in thread order on CPU, so
    results would vary in the last bits from run to run; a matmul is reproducible (and cheap here)."""
    return torch.nn.functional.one_hot(ids, len(table)).to(table.dtype) @ table


def batch_loss(model, batch: dict, texts: list[str], loss_name: str, global_positive: torch.Tensor | None = None,
               world: int = 1) -> torch.Tensor:
    """This rank's share of the loss of a global batch (the whole loss when ``world == 1``).

    ``global_positive``: the positive text ids of the whole global batch (default: this batch's). Rows with
    positive id -1 (background chunks, no description to pull them towards) are left out; a negative id
    must be >= 0.
    """
    positive = batch["positive"]
    global_positive = positive if global_positive is None else global_positive
    video = model.encode_video(batch["features"].to(model.device, non_blocking=True))
    if loss_name == "clip":
        if world > 1:
            video, positive = _gather_rows(video, len(global_positive), world), global_positive
        keep = (positive >= 0).to(model.device)
        ids = torch.unique(positive[positive >= 0])
        if not len(ids):   # only background rows: nothing to contrast
            return video.sum() * 0.0
        table = model.encode_text([texts[i] for i in ids.tolist()])
        text = _rows(table, torch.searchsorted(ids, positive.clamp_min(0)).clamp_max(len(ids) - 1).to(model.device))
        return ClipLoss()(video[keep], text[keep], model.scale(), text_ids=positive.to(model.device)[keep]) / world
    negatives = batch["negatives"]
    if (negatives < 0).any():
        raise VtkitError("negative text ids must be >= 0", field="negatives")
    keep = positive >= 0
    kept, kept_global = int(keep.sum()), int((global_positive >= 0).sum())
    if not kept:
        return video.sum() * 0.0
    positive, negatives, video = positive[keep], negatives[keep], video[keep.to(model.device)]
    ids = torch.unique(torch.cat([positive, negatives.reshape(-1)]))
    table = model.encode_text([texts[i] for i in ids.tolist()])
    pos = _rows(table, torch.searchsorted(ids, positive).to(model.device))
    neg = _rows(table, torch.searchsorted(ids, negatives.contiguous()).to(model.device))
    chunks = valid = None
    if "negative_chunk_features" in batch:   # the text-to-chunk term: same-video chunks the text does not cover
        feats = batch["negative_chunk_features"][keep]
        B, M = feats.shape[:2]
        chunks = model.encode_video(feats.reshape(B * M, *feats.shape[2:]).to(model.device, non_blocking=True))
        chunks, valid = chunks.reshape(B, M, -1), batch["negative_chunk_valid"][keep].to(model.device)
    return InfoNCELoss()(video, pos, neg, model.scale(), chunks, valid) * (kept / kept_global)


# ---------------------------------------------------------------------------------------- validation

@torch.no_grad()
def evaluate(model, cfg: Config, sel_ds, sel_ann, sel_features: dict) -> dict:
    """The selection split's loss, text-to-video R@1 and alignment R1@0.3 (all queries, steps, substeps).

    Text-to-video R@1: a query is a hit when the best-scoring chunk of its video's searched range lies
    in the query's chunk span. Alignment: :func:`vtkit.predict.predict_split` with ``cfg.aligner`` and
    the substep mode validation can use (``best`` is decided after training), the same path as the
    evaluation notebook; both come from one similarity matrix per video.
    """
    model.eval()
    sel_ds.set_epoch(0)
    total = count = 0.0
    for start in range(0, len(sel_ds), cfg.batch_size):
        batch = sel_ds.get_batch(np.arange(start, min(start + cfg.batch_size, len(sel_ds))))
        weight = int((batch["positive"] >= 0).sum())
        total += float(batch_loss(model, batch, sel_ds.texts, cfg.loss)) * weight
        count += weight
    scored = {}   # video uid -> queries with times inside the features
    for video in sel_ann.videos:
        feats = sel_features.get(video.video_uid)
        queries = [q for q in video.queries
                   if feats is not None and q.start is not None and q.chunk_span(cfg.chunk_seconds)[0] < len(feats)]
        if queries:
            scored[video.video_uid] = queries
    row = {c: math.nan for c in EVAL_COLUMNS}
    row["heldout_loss"] = total / count if count else math.nan
    if scored:
        videos = sel_ann.subset(list(scored))
        preds = predict_split(model, videos, sel_features, cfg, aligners=[cfg.aligner], skip_missing=True,
                              progress=False)
        hits = []
        for video in videos.videos:
            S_steps, S_subs, offset = preds.similarities[video.video_uid]
            rows = {q.query_idx: S_steps[k] for k, q in enumerate(video.steps)}
            rows.update({q.query_idx: S_subs[k] for k, q in enumerate(video.substeps)} if S_subs is not None else {})
            for q in scored[video.video_uid]:
                first, last = q.chunk_span(cfg.chunk_seconds)
                hits.append(first <= int(rows[q.query_idx].argmax()) + offset <= last)
        queries = [q for qs in scored.values() for q in qs]
        result = score(preds.by_aligner[cfg.aligner], queries, thresholds=(0.3,), ks=(1,))
        row["heldout_t2v_R1"] = float(np.mean(hits))
        row["heldout_R1@0.3"] = result["R1@0.3"]
        for level in ("step", "substep"):
            if level in result["by_level"]:
                row[f"heldout_{level}_R1@0.3"] = result["by_level"][level]["R1@0.3"]
    model.train()
    return row


def selection_split(train_ann, cfg: Config):
    """``(training videos, selection videos, what chose)``: the selection file when given, else a seeded,
    video-level ``selection_fraction`` of the train videos (at least one, when there are two or more).

    ``selection_fold`` k holds out the k-th disjoint share of that size in the same seeded order, so
    folds 0, 1, ... of one seed never share a selection video (fold 0 is the default split).
    """
    if cfg.selection_annotations:
        if cfg.selection_fold:
            raise VtkitError("folds split the held-out share of the train videos; with selection_annotations "
                             "leave selection_fold at 0", field="selection_fold")
        chosen = load_annotations(cfg.selection_annotations).head(cfg.max_videos)
        overlap = {v.video_uid for v in chosen.videos} & {v.video_uid for v in train_ann.videos}
        if overlap:
            raise VtkitError(f"{len(overlap)} selection videos are also training videos (e.g. {sorted(overlap)[0]})",
                             path=cfg.selection_annotations, field="selection_annotations")
        return train_ann, chosen, f"the selection file {Path(cfg.selection_annotations).name} ({len(chosen.videos)} videos)"
    uids = [v.video_uid for v in train_ann.videos]
    n = round(cfg.selection_fraction * len(uids)) if cfg.selection_fraction > 0 else 0
    n = min(max(n, 1 if cfg.selection_fraction > 0 and len(uids) >= 2 else 0), len(uids) - 1)
    if n <= 0:
        raise VtkitError("no selection split: set selection_fraction > 0 with at least 2 train videos, or "
                         "selection_annotations", field="selection_fraction")
    folds = len(uids) // n
    if cfg.selection_fold >= folds:
        raise VtkitError(f"{len(uids)} train videos make {folds} selection fold{'s' if folds != 1 else ''} of {n} "
                         f"(0 to {folds - 1}), got {cfg.selection_fold}", field="selection_fold")
    order = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5E1EC7])).permutation(len(uids))
    held = {uids[i] for i in order[cfg.selection_fold * n:(cfg.selection_fold + 1) * n]}
    fold = f", fold {cfg.selection_fold}" if cfg.selection_fold else ""
    return (train_ann.subset([u for u in uids if u not in held]), train_ann.subset(held),
            f"{len(held)} held-out train video{'s' if len(held) != 1 else ''} ({cfg.selection_fraction:.0%} of "
            f"{len(uids)}, seed {cfg.seed}{fold})")


def choose_alignment(model, cfg: Config, sel_ann, sel_features: dict) -> dict:
    """What the selection split chooses after training, by R1@0.3 with the best weights, in two stages:
    the steps' background percentile over the step queries, the steps aligned alone (as every mode but
    ``joint`` aligns them, and ``joint`` too in videos without substeps), then, with it, the substep mode
    (``substep_mode="best"``) and the substeps' background percentile over all queries (in ``joint`` mode
    the substeps' background places every step of a video with substeps). Backgrounds are chosen among
    BACKGROUND_CHOICES when ``select_background``."""
    videos = [v for v in sel_ann.videos if v.video_uid in sel_features and v.queries]
    mode, value = resolve_substep_mode(cfg.substep_mode), cfg.background_value
    base = AlignSettings.from_config(cfg).replace(aligner="dp")
    sub_value = base.for_substeps().background_value
    if not videos:
        return {"substep_mode": mode, "background_value": value, "substep_background_value": sub_value,
                "query_norm": cfg.query_norm, "table": {}}
    sims = predict_split(model, sel_ann.subset([v.video_uid for v in videos]), sel_features, cfg, aligners=[],
                         skip_missing=True, progress=False).similarities
    queries = [q for v in videos for q in v.queries]
    is_sub = np.array([q.level == "substep" for q in queries])
    has_subs = bool(is_sub.any())
    modes = SUBSTEP_MODES if cfg.substep_mode == "best" and has_subs else (mode,)
    choose = cfg.select_background and cfg.background == "percentile"
    values = BACKGROUND_CHOICES if choose else (value,)

    def hits_at(m: str, b: float, sb: float) -> np.ndarray:
        settings = base.replace(background_value=b, substep_background_value=sb)
        return query_hits(split_windows(videos, sims, settings, m, cfg.chunk_seconds)[0], queries)

    def level_score(h: np.ndarray, level: np.ndarray) -> float:
        return float(h[level].mean()) if level.any() else float(h.mean())

    alone = "hierarchical" if mode == "joint" else mode   # a mode that aligns the steps alone
    first = {b: hits_at(alone, b, sub_value) for b in values}   # the step queries' hits do not depend on the rest
    steps = {b: level_score(h, ~is_sub) for b, h in first.items()}
    best_value = max(steps, key=lambda b: (steps[b], b == value))   # ties keep the parameters' own values
    if cfg.substep_background_value is None:
        sub_value = best_value
    sub_values = BACKGROUND_CHOICES if choose and has_subs else (sub_value,)
    hits = {(m, sb): hits_at(m, best_value, sb) for m in modes for sb in sub_values}
    overall = {k: float(h.mean()) for k, h in hits.items()}

    def rank(k):
        return overall[k], k[0] == mode, k[1] == sub_value

    best_mode, best_sub = max(overall, key=rank)
    video_of = np.array([q.video_uid for q in queries])

    def per_video(chosen: np.ndarray) -> dict:
        return {v.video_uid: [int(chosen[video_of == v.video_uid].sum()), len(v.queries)] for v in videos}

    table = {f"steps/{b:g}": r for b, r in steps.items()}
    if has_subs:
        table.update({f"{m}/{sb:g}": r for (m, sb), r in overall.items()})
    out = {"substep_mode": best_mode, "background_value": float(best_value),
           "substep_background_value": float(best_sub), "query_norm": cfg.query_norm, "table": table,
           "hits": per_video(hits[(best_mode, best_sub)])}
    if len(modes) > 1:   # each mode at its own best substep background: paired comparisons of the modes
        out["mode_hits"] = {m: per_video(hits[max(((m, sb) for sb in sub_values), key=rank)]) for m in modes}
    return out


@torch.no_grad()
def start_projections_by_ridge(model, train_ds) -> int:
    """``projection_init="ridge"``: the model's random projections start as a linear probe of the training split.

    The text projection takes the training descriptions' principal directions; the video projection is the
    ridge regression of each (chunk, covering text) pair's text embedding on the chunk's features (both
    :class:`vtkit.model.DualEncoder` methods). Projections a LaViLa checkpoint set are kept. Returns the
    number of pairs fitted (0 when nothing was random).
    """
    if "text" in model.random_projections:
        model.start_text_projection(train_ds.texts)
    if "video" not in model.random_projections:
        return 0
    table = model.encode_text(train_ds.texts)
    return model.fit_video_projection((features, table[ids.to(model.device)])
                                      for features, ids in train_ds.positive_pairs())


def write_history(path: Path, history: list[dict]) -> None:
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in nan_to_none(history):
            writer.writerow(row)


# ---------------------------------------------------------------------------------------- setup

def _setup_distributed(cfg: Config) -> tuple[int, int, torch.device, bool]:
    """``(rank, world, device, we_initialised)``."""
    cuda = resolve_device(cfg.device) == "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, torch.device("cuda" if cuda else "cpu"), False
    ours = not dist.is_initialized()
    if ours:
        dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    return dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}" if cuda else "cpu"), ours


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return torch.randperm(n, generator=gen)


def _format_value(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def epoch_line(row: dict, improved: bool = False, stopped: bool = False) -> str:
    """The one-line summary of a history row (``-`` for what was not measured, e.g. epoch 0's train loss)."""
    return (f"epoch {row['epoch']}: " + "  ".join(f"{k} {_format_value(row[k])}" for k in HISTORY_COLUMNS[2:-1]
                                                  if k in row)
            + ("  *best*" if improved else "") + ("  early stop" if stopped else ""))


def train(cfg: Config, progress: bool = True, text_cache: bool = True, interactive: bool | None = None) -> TrainResult:
    """Train the adapters on ``cfg.train_annotations``, validate each epoch, checkpoint; see the module docstring.

    ``progress``: print a line per epoch (and the setup); ``interactive``: also draw a progress bar per
    epoch, advancing each step (None: :func:`interactive_output`; batch runs get the lines only).
    ``text_cache=False`` re-runs the text backbone on every step's texts (benchmarking only).
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    rank, world, device, ours = _setup_distributed(cfg)
    main = rank == 0
    bars = progress and main and (interactive_output() if interactive is None else interactive)

    def say(text: str) -> None:
        if progress and main:
            tqdm.write(text)
            sys.stdout.flush()   # batch logs get each line when it happens

    try:
        # ---- data
        train_ann, sel_ann, chosen_by = selection_split(load_annotations(cfg.train_annotations).head(cfg.max_videos),
                                                        cfg)
        # the reported split: only its texts are read here (to embed them once); its labels never are
        val_texts = {q.description for v in load_annotations(cfg.val_annotations).head(cfg.max_videos).videos
                     for q in v.queries}
        timings = {"features_s": 0.0, "text_embedding_s": 0.0, "train_s": [], "validate_s": [], "choose_s": 0.0}
        clock = time.perf_counter()
        store = None
        for turn in (True, False):   # rank 0 packs per-chunk features into the cache first, the others then read it
            if main == turn:
                store = open_store(cfg.video_root, cfg.feature_store, cfg.chunk_seconds, cfg.feature_cache_dir,
                                   videos=[v.video_uid for v in (*train_ann.videos, *sel_ann.videos)],
                                   progress=bars)
            if world > 1:
                dist.barrier()
        common = dict(chunk_seconds=cfg.chunk_seconds, negative_ratio=cfg.negative_ratio,
                      negative_source=cfg.negative_source, background_ratio=cfg.background_ratio,
                      context_window=cfg.context_window, seed=cfg.seed, skip_missing=cfg.skip_missing_features,
                      negative_chunks=cfg.negative_chunks if cfg.loss == "infonce" else 0,  # clip: the batch's own
                      negative_chunk_window=cfg.negative_chunk_window)
        train_ds = VideoTextAlignmentDataset(train_ann.videos, store, level=cfg.train_levels, **common)
        sel_ds = VideoTextAlignmentDataset(sel_ann.videos, store, level=cfg.train_levels, **common)
        sel_features = sel_ds.video_features()   # the videos selection can score, read and checked once
        timings["features_s"] = round(time.perf_counter() - clock, 3)
        say(f"train:     {train_ds!r}\nselection: {sel_ds!r} ({chosen_by})")

        # ---- model, text cache, optimizer
        torch.manual_seed(cfg.seed)
        model = DualEncoder.from_config(cfg.model(), store.feature_dim, cfg.text_cache_dir).to(device)
        model.text_cacheable = model.text_cacheable and text_cache
        trainable = [p for p in model.parameters() if p.requires_grad]
        counts = count_parameters(model)
        say(f"parameters: {counts['trainable']:,} trainable / {counts['total']:,} total "
            f"({100 * counts['trainable'] / counts['total']:.2f}%) on {device}, {world} process(es)")
        if model.text_cacheable:
            texts = sorted({*train_ds.texts, *sel_ds.texts, *(q.description for q in sel_ann.queries()), *val_texts})
            clock = time.perf_counter()
            for turn in (True, False):   # rank 0 fills the disk cache first, the others then read it
                if main == turn:
                    model.pooled_text(texts)
                if world > 1:
                    dist.barrier()
            timings["text_embedding_s"] = round(time.perf_counter() - clock, 3)
            timings["texts"] = len(texts)
        folder = Path(cfg.out_dir) / "checkpoints"
        resuming = cfg.resume and (folder / "last.json").is_file()
        zero_shot = model.text_pools_itself and not model.random_projections and model.adapters_start_as_identity
        start_name = "zero-shot" if zero_shot else "untrained"
        if cfg.projection_init == "ridge" and not resuming and model.random_projections:
            start_name = "ridge start"
            clock = time.perf_counter()
            fitted = start_projections_by_ridge(model, train_ds)
            timings["ridge_start_s"] = round(time.perf_counter() - clock, 3)
            if fitted:
                say(f"video projection: ridge start on {fitted:,} (chunk, description) pairs")
        if world > 1:   # everything saved, the fitted (possibly locked) start included
            for tensor in model.trainable_state_dict().values():
                dist.broadcast(tensor, src=0)
        optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
        steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch or steps_per_epoch)
        scheduler = make_scheduler(cfg, optimizer, steps_per_epoch * cfg.epochs)
        amp = device.type == "cuda"
        amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

        # ---- state (fresh or resumed)
        history_csv = Path(cfg.out_dir) / "history.csv"
        history, best, start, step, bad, stopped, pairs, train_seconds = [], None, 0, 0, 0, False, 0, 0.0
        best_epoch = 0
        metric = "heldout_R1@0.3"   # becomes heldout_t2v_R1 for good once alignment cannot be scored
        if resuming:
            state = restore_checkpoint(folder / "last.json", model, optimizer, scheduler, scaler)
            history, bad, stopped = state["history"], state["bad_epochs"], state["stopped_early"]
            best = state["best"]
            start, step, pairs, train_seconds = state["epoch"] + 1, state["global_step"], state["pairs"], state["train_seconds"]
            metric = state.get("metric", metric)
            best_epoch = state.get("best_epoch", best_epoch)
            start_name = state.get("start", start_name)
            say(f"resumed from {folder / 'last.json'} after epoch {state['epoch']} (step {step})")
        elif cfg.resume:
            say(f"resume: no checkpoint in {folder}; starting fresh")
        kill_at = int(os.environ.get(KILL_AT_STEP_ENV, "0") or 0)

        # ---- epochs (0 = evaluation of the model before any step)
        for epoch in range(start, 0 if stopped else cfg.epochs + 1):
            losses, lr = [], optimizer.param_groups[0]["lr"]
            if epoch > 0:
                model.train()
                train_ds.set_epoch(epoch)
                order = _epoch_order(len(train_ds), cfg.seed, epoch)
                t_epoch = time.perf_counter()
                with tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{cfg.epochs}", unit="step",
                          disable=not bars, leave=False) as bar:
                    for b in range(steps_per_epoch):
                        global_idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                        batch = train_ds.get_batch(global_idx[rank::world].numpy())
                        global_positive = torch.from_numpy(train_ds.sample_positive[global_idx.numpy()])
                        lr = optimizer.param_groups[0]["lr"]
                        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                            loss = batch_loss(model, batch, train_ds.texts, cfg.loss, global_positive, world)
                        optimizer.zero_grad(set_to_none=True)
                        scaler.scale(loss).backward()
                        value = loss.detach().float()
                        if world > 1:
                            for p in trainable:
                                if p.grad is None:
                                    p.grad = torch.zeros_like(p)
                                dist.all_reduce(p.grad)
                            dist.all_reduce(value)
                        scaler.unscale_(optimizer)
                        if cfg.grad_clip > 0:
                            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
                        scaler.step(optimizer)
                        scaler.update()
                        if cfg.lr_schedule == "cosine":
                            scheduler.step()
                        step += 1
                        pairs += len(global_idx)
                        losses.append(float(value))
                        if not math.isfinite(losses[-1]):
                            raise VtkitError(f"the training loss became {losses[-1]} at step {step} (epoch {epoch}): "
                                             f"lower lr (now {cfg.lr:g}) or raise temperature (now {cfg.temperature:g})",
                                             field="lr")
                        bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}", refresh=False)
                        bar.update()   # redraws at most every mininterval, with the postfix above
                        if step == kill_at:
                            os.kill(os.getpid(), signal.SIGKILL)
                train_seconds += time.perf_counter() - t_epoch
                timings["train_s"].append(round(time.perf_counter() - t_epoch, 3))

            # ---- validate (rank 0), record, stop / schedule, save
            row = [None]
            clock = time.perf_counter()
            if main:
                row = [{"epoch": epoch, "step": step, "lr": lr,
                        "train_loss": float(np.mean(losses)) if losses else math.nan,
                        **evaluate(model, cfg, sel_ds, sel_ann, sel_features),
                        "seconds": round(time.perf_counter() - t0, 3)}]
            if world > 1:
                dist.broadcast_object_list(row, src=0)
            timings["validate_s"].append(round(time.perf_counter() - clock, 3))
            row = row[0]
            history.append(row)
            if math.isnan(row[metric]):
                metric = "heldout_t2v_R1"
            key = (row[metric], -row["heldout_loss"])    # ties on the metric go to the lower selection loss
            improved = best is None or key > tuple(best)
            best, bad = (list(key), 0) if improved else (best, bad + 1)
            best_epoch = epoch if improved else best_epoch
            if cfg.lr_schedule == "plateau" and epoch > 0:
                scheduler.step(row["heldout_loss"])
            stopped = 0 < cfg.early_stop_patience <= bad and epoch < cfg.epochs
            say(epoch_line(row, improved, stopped))
            if main:
                state = {"epoch": epoch, "global_step": step, "best_epoch": best_epoch, "start": start_name,
                         "best": best,
                         "metric": metric, "bad_epochs": bad,
                         "stopped_early": stopped, "pairs": pairs, "train_seconds": train_seconds,
                         "history": history, "params": counts,
                         "scheduler": scheduler.state_dict() if scheduler is not None else None,
                         "scaler": scaler.state_dict() if scaler.is_enabled() else None}
                if improved:
                    save_checkpoint(folder, "best", model, optimizer, state)
                save_checkpoint(folder, "last", model, optimizer, state)
                write_history(history_csv, history)
            if stopped:
                break
        choices, clock = {}, time.perf_counter()
        if main:   # the selection split chooses the rest with the best weights; recorded next to them
            last_weights = {k: v.detach().clone() for k, v in model.trainable_state_dict().items()}
            model.load_trainable_state_dict(read_checkpoint(folder / "best.json")[1])
            choices = {**choose_alignment(model, cfg, sel_ann, sel_features), "chosen_by": chosen_by,
                       "best_epoch": best_epoch}
            model.load_trainable_state_dict(last_weights)
            write_choices(folder / "best.json", choices)
        timings["choose_s"] = round(time.perf_counter() - clock, 3)
        if world > 1:
            dist.barrier()
        done = [r["epoch"] for r in history if r["epoch"] > 0]
        return TrainResult(history=history, history_csv=history_csv, best_checkpoint=folder / "best.safetensors",
                           last_checkpoint=folder / "last.safetensors", best_metric=best[0] if best else math.nan,
                           metric=metric, best_epoch=best_epoch, chosen_by=chosen_by,
                           choices={k: v for k, v in choices.items() if k in CHOSEN},
                           selection_table=choices.get("table", {}), selection_hits=choices.get("hits", {}),
                           selection_mode_hits=choices.get("mode_hits", {}),
                           epochs_run=max(done, default=0), stopped_early=stopped,
                           trainable_params=counts["trainable"], total_params=counts["total"],
                           seconds=time.perf_counter() - t0,
                           pairs_per_second=pairs / train_seconds if train_seconds else math.nan,
                           timings=timings, model=model.eval(), start=start_name)
    finally:
        if ours:
            dist.destroy_process_group()


def cli_train(argv: list[str]) -> int:
    parser = ArgumentParser(prog="vtkit train", description="Train the adapters (same parameters as the "
                                     "notebooks); writes <out_dir>/history.csv and <out_dir>/checkpoints/.")
    parser.add_argument("--params", metavar="FILE.yaml", help="YAML file of parameters")
    parser.add_argument("-p", dest="pairs", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter (repeatable), e.g. -p epochs=3 -p resume=true")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.pairs)
    cfg = Config.from_yaml(args.params, overrides) if args.params else Config.from_dict(overrides, source="-p")
    cfg.check_paths()
    result = train(cfg, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        first, best_row = result.history[0], next(r for r in result.history if r["epoch"] == result.best_epoch)
        print(f"{result.epochs_run} epochs{' (stopped early)' if result.stopped_early else ''} in "
              f"{result.seconds:.1f} s, {result.pairs_per_second:.0f} pairs/s; {result.trainable_params:,} trainable "
              f"/ {result.total_params:,} parameters")
        print(f"chosen on {result.chosen_by}: best epoch {result.best_epoch}, substep mode "
              f"{result.choices['substep_mode']}, background percentile {result.choices['background_value']:g} (steps), "
              f"{result.choices['substep_background_value']:g} (substeps)")
        for col in ("heldout_t2v_R1", "heldout_R1@0.3"):
            print(f"{col}: untrained {first[col]:.3f} -> best epoch {best_row['epoch']} {best_row[col]:.3f}")
        print(f"best checkpoint: {result.best_checkpoint}\nhistory: {result.history_csv}")
    return 0
