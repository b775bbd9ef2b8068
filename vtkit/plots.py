"""Figures for the notebooks and reports (matplotlib + seaborn).

Every ``plot_*`` function takes plain data (numpy arrays, lists of inclusive chunk spans
``(first, last)`` or ``None``, dicts, a CSV path) and returns a :class:`matplotlib.figure.Figure`.
Figures are built with ``Figure()`` rather than ``pyplot``: nothing is shown, no backend is
chosen, and nothing piles up in pyplot's figure registry. In a notebook a returned figure is
displayed as the cell's value (or with ``display(fig)``); :func:`save_figure` writes it to disk.

Functions that draw a single panel also accept ``ax=`` to draw into an existing axes (the
returned figure is then ``ax.figure``).

Spans are chunk indices of the video (chunk ``i`` covers ``[i * chunk_seconds, (i + 1) *
chunk_seconds)``); when a similarity matrix holds only part of the video, its column ``j`` is
chunk ``first_chunk + j``. Axes show seconds.
"""
from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from vtkit.errors import VtkitError
from vtkit.io import atomic_path
from vtkit.metrics import separation  # noqa: F401  (drawn in legends; also plots.separation)
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunks_to_seconds

Span = tuple[int, int]

DPI = 120
GT_COLOR = "black"
TOPK_COLOR = "0.45"
SEGMENT_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def palette(n: int) -> list:
    """``n`` colour-blind-friendly colours (seaborn "colorblind", cycled)."""
    base = sns.color_palette("colorblind")
    return [base[i % len(base)] for i in range(n)]


def aligner_colors(names: Iterable[str]) -> dict[str, Any]:
    """A fixed colour per aligner name (the same in every figure); other names get the next colours."""
    from vtkit.align import ALIGNERS

    names = list(names)
    extra = [n for n in names if n not in ALIGNERS]
    colours = palette(len(ALIGNERS) + len(extra))
    order = list(ALIGNERS) + extra
    return {n: colours[order.index(n)] for n in names}


# ---------------------------------------------------------------------------- helpers


_display_ready = False


def enable_notebook_display() -> None:
    """In a Jupyter kernel, show returned figures as PNG (as ``%matplotlib inline`` would).

    Our figures bypass pyplot, so the notebook backend may never be loaded; this registers
    IPython's figure formatter directly. Elsewhere it does nothing.
    """
    global _display_ready
    if _display_ready:
        return
    _display_ready = True
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        select_figure_formats(shell, {"png"}, bbox_inches="tight")


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(8, 4), squeeze: bool = True, **kwargs):
    """``(Figure, axes)``: a pyplot-free figure with seaborn's whitegrid style, constrained layout."""
    enable_notebook_display()
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)
    return fig, axes


def _figure_and_ax(ax: Axes | None, figsize=(8, 4)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return new_figure(figsize=figsize)


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` atomically (format from the suffix, PNG by default) and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)  # a no-op for our figures; frees figures made with pyplot
    return path


def _as_array(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _span_seconds(span, chunk_seconds: float) -> tuple[float, float] | None:
    if span is None:
        return None
    first, last = int(span[0]), int(span[1])
    return chunks_to_seconds(first, last, chunk_seconds)


def short_label(text: str, max_len: int) -> str:
    """Whitespace collapsed, cut to ``max_len`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= max_len else text[: max(1, max_len - 1)] + "…"


def _interval(item) -> tuple[float, float, str | None] | None:
    """(start, end, label) from a ``(start, end[, label])`` tuple, a dict or a Query-like object."""
    if item is None:
        return None
    if isinstance(item, Mapping):
        start, end, label = item.get("start"), item.get("end"), item.get("description", item.get("label"))
    elif hasattr(item, "start") and hasattr(item, "end"):
        start, end, label = item.start, item.end, getattr(item, "description", None)
    else:
        start, end = item[0], item[1]
        label = item[2] if len(item) > 2 else None
    if start is None or end is None:
        return None
    return float(start), float(end), label


# ---------------------------------------------------------------------------- timelines


def plot_step_timeline(video_steps, goal=None, substeps=None, title: str | None = None,
                       ax: Axes | None = None, label_steps: bool = True) -> Figure:
    """Gantt-like timeline of one video: steps on the top lane, substeps below, in seconds.

    ``video_steps`` / ``substeps``: ``(start, end[, label])`` tuples, dicts with start/end or
    Query objects; ``goal``: ``(start, end)`` of the goal segment, shaded.
    """
    fig, ax = _figure_and_ax(ax, figsize=(10, 2.2))
    lanes = [("steps", video_steps)]
    if substeps is not None:
        lanes.insert(0, ("substeps", substeps))
    colors = palette(2)
    if goal is not None and goal[0] is not None:
        ax.axvspan(float(goal[0]), float(goal[1]), color="0.9", zorder=0, label="goal segment")
    for lane, (name, items) in enumerate(lanes):
        intervals = [iv for iv in map(_interval, items or []) if iv is not None]
        for i, (start, end, label) in enumerate(intervals):
            color = colors[i % 2]
            ax.broken_barh([(start, end - start)], (lane - 0.35, 0.7), facecolors=color,
                           edgecolors="white", linewidth=0.8, zorder=2)
            if name == "steps" and label_steps and end - start > 0:
                ax.text((start + end) / 2, lane, str(i + 1), ha="center", va="center", fontsize=7,
                        color="white", zorder=3, clip_on=True)
    ax.set_yticks(range(len(lanes)), [name for name, _ in lanes])
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    if goal is not None and goal[0] is not None:
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("time (seconds)")
    ax.set_title(title or "Step timeline")
    ax.grid(axis="y", visible=False)
    return fig


def _video_fields(video) -> dict:
    """Normalise a Video object or a dict to title / steps / substeps / goal."""
    if isinstance(video, Mapping):
        return {"title": video.get("title", video.get("video_uid", "")), "steps": video.get("steps", []),
                "substeps": video.get("substeps"), "goal": video.get("goal")}
    goal = (video.start_time, video.end_time) if getattr(video, "start_time", None) is not None else None
    title = video.video_uid if not getattr(video, "goal_description", None) else \
        f"{video.video_uid[:8]}: {short_label(video.goal_description, 40)}"
    return {"title": title, "steps": video.steps, "substeps": video.substeps, "goal": goal}


def plot_timelines(videos: Sequence, max_videos: int = 6, ncols: int = 1) -> Figure:
    """A grid of :func:`plot_step_timeline`, one panel per video (Video objects or dicts)."""
    videos = list(videos)[:max_videos]
    if not videos:
        raise VtkitError("no videos to plot", field="videos")
    nrows = math.ceil(len(videos) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(10 * ncols, 1.9 * nrows + 0.3), squeeze=False)
    for ax, video in zip(axes.flat, videos):
        fields = _video_fields(video)
        plot_step_timeline(fields["steps"], goal=fields["goal"], substeps=fields["substeps"],
                           title=fields["title"], ax=ax)
    for ax in list(axes.flat)[len(videos):]:
        ax.set_visible(False)
    return fig


# ---------------------------------------------------------------------------- dataset statistics


def plot_duration_histograms(step_durations, substep_durations=None, bins: int = 40,
                             log_x: bool = True) -> Figure:
    """Histograms of step and substep durations (seconds), with the median marked."""
    groups = [("steps", step_durations)]
    if substep_durations is not None:
        groups.append(("substeps", substep_durations))
    fig, axes = new_figure(1, len(groups), figsize=(5 * len(groups), 3.5), squeeze=False)
    for ax, color, (name, values) in zip(axes.flat, palette(len(groups)), groups):
        values = _as_array(values)
        positive = values[values > 0]
        if log_x and positive.size:
            edges = np.geomspace(positive.min(), positive.max(), bins + 1) if positive.min() < positive.max() \
                else bins
            ax.hist(positive, bins=edges, color=color, edgecolor="white")
            ax.set_xscale("log")
        else:
            ax.hist(values, bins=bins, color=color, edgecolor="white")
        if values.size:
            median = float(np.median(values))
            ax.axvline(median, color="black", linestyle="--", linewidth=1, label=f"median {median:.1f} s")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("duration (seconds)")
        ax.set_ylabel("count")
        ax.set_title(f"{name.capitalize()} durations (n={values.size})")
    return fig


def plot_coverage_histogram(coverages, bins: int = 20, ax: Axes | None = None) -> Figure:
    """Histogram of the fraction of each goal segment covered by its steps."""
    fig, ax = _figure_and_ax(ax, figsize=(6, 3.5))
    values = _as_array(coverages)
    ax.hist(values, bins=np.linspace(0, max(1.0, values.max(initial=1.0)), bins + 1), color=palette(1)[0],
            edgecolor="white")
    if values.size:
        ax.axvline(values.mean(), color="black", linestyle="--", linewidth=1, label=f"mean {values.mean():.2f}")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("fraction of the goal segment covered by steps")
    ax.set_ylabel("videos")
    ax.set_title(f"Step coverage per video (n={values.size})")
    return fig


def plot_description_stats(descriptions: Sequence[str], top: int = 15, max_label_len: int = 40) -> Figure:
    """Words per description (histogram) and the most repeated descriptions (bar chart)."""
    descriptions = [" ".join(str(d).split()) for d in descriptions]
    words = np.array([len(d.split()) for d in descriptions], dtype=float)
    fig, (ax_words, ax_top) = new_figure(1, 2, figsize=(12, 4), width_ratios=(1, 1.3))
    colors = palette(2)
    if words.size:
        ax_words.hist(words, bins=np.arange(0.5, words.max() + 1.5), color=colors[0], edgecolor="white")
        ax_words.axvline(np.median(words), color="black", linestyle="--", linewidth=1,
                         label=f"median {np.median(words):.0f} words")
        ax_words.legend(fontsize=8)
    ax_words.set_xlabel("words per description")
    ax_words.set_ylabel("descriptions")
    ax_words.set_title(f"Description length (n={len(descriptions)})")

    counts = Counter(d.lower() for d in descriptions)
    repeated = [(text, n) for text, n in counts.most_common(top) if n > 1]
    if repeated:
        labels = [short_label(text, max_label_len) for text, _ in repeated][::-1]
        ax_top.barh(labels, [n for _, n in repeated][::-1], color=colors[1])
    else:
        ax_top.text(0.5, 0.5, "no repeated descriptions", ha="center", va="center", transform=ax_top.transAxes)
    ax_top.set_xlabel("occurrences")
    ax_top.set_title(f"Most repeated descriptions (top {top})")
    return fig


# ---------------------------------------------------------------------------- training


def read_history(history) -> list[dict[str, float]]:
    """History rows from a list of dicts or a CSV path; values become floats (blank -> NaN)."""
    if isinstance(history, (str, Path)):
        path = Path(history)
        if not path.is_file():
            raise VtkitError("training history file not found", path=path)
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = [dict(r) for r in history]
    out = []
    for row in rows:
        parsed = {}
        for key, value in row.items():
            try:
                parsed[key] = float(value) if value not in (None, "") else math.nan
            except (TypeError, ValueError):
                continue  # non-numeric columns (e.g. a timestamp) are not plotted
        out.append(parsed)
    return out


def _history_panels(columns: list[str]) -> list[tuple[str, list[str], str]]:
    """Group history columns into panels: (title, columns, y label)."""
    loss = [c for c in columns if c.endswith("loss")]
    align = [c for c in columns if "align" in c]
    retrieval = [c for c in columns if c not in align and ("R1" in c or "R5" in c or "R@" in c or "recall" in c)]
    lr = [c for c in columns if c == "lr" or c.endswith("_lr") or c == "learning_rate"]
    panels = [("Loss", loss, "InfoNCE loss"), ("Retrieval", retrieval, "recall"),
              ("Alignment", align, "recall"), ("Learning rate", lr, "learning rate")]
    return [p for p in panels if p[1]]


def plot_training_curves(history, x: str | None = None) -> Figure:
    """Loss (train / val), retrieval recall, alignment recall and learning rate per epoch.

    ``history``: list of dicts or the path of a ``history.csv``. Panels only appear for the
    columns present (``*loss``; ``*R1*``/``*R5*``; ``*align*``; ``lr``).
    """
    rows = read_history(history)
    if not rows:
        raise VtkitError("training history is empty", field="history")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    x = x or next((c for c in ("epoch", "step") if c in columns), None)
    xs = np.array([row.get(x, math.nan) for row in rows]) if x else np.arange(1, len(rows) + 1, dtype=float)
    panels = _history_panels([c for c in columns if c != x])
    if not panels:
        raise VtkitError(f"no plottable columns in training history (found {columns})", field="history")
    ncols = 2 if len(panels) == 4 else len(panels)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(4.6 * ncols, 3.3 * nrows), squeeze=False)
    for ax, (title, cols, ylabel) in zip(axes.flat, panels):
        for color, col in zip(palette(len(cols)), cols):
            ys = np.array([row.get(col, math.nan) for row in rows])
            keep = np.isfinite(ys) & np.isfinite(xs)
            ax.plot(xs[keep], ys[keep], marker="o", markersize=3, color=color, label=col)
        if title == "Learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))   # epochs / steps: no 0.5 ticks
        ax.set_xlabel(x or "epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------- similarity and alignment


def _draw_heatmap(ax: Axes, S: np.ndarray, gt_spans, segments: Mapping[str, Sequence], step_labels,
                  chunk_seconds: float, first_chunk: int, max_label_len: int, colorbar_axes=None,
                  cmap: str = "viridis"):
    K, N = S.shape
    t0, t1 = chunks_to_seconds(first_chunk, first_chunk + N - 1, chunk_seconds)
    image = ax.imshow(S, aspect="auto", interpolation="nearest", cmap=cmap, extent=(t0, t1, K - 0.5, -0.5))
    ax.figure.colorbar(image, ax=colorbar_axes or ax, label="similarity", fraction=0.04, pad=0.01)
    handles = []
    if gt_spans is not None:
        for k, span in enumerate(gt_spans):
            window = _span_seconds(span, chunk_seconds)
            if window is None:
                continue
            ax.add_patch(Rectangle((window[0], k - 0.5), window[1] - window[0], 1.0, fill=False,
                                   edgecolor="white", linewidth=1.6, gid="gt"))
        handles.append(Patch(facecolor="none", edgecolor="white", label="ground truth"))
    colors = aligner_colors(segments)
    n = max(1, len(segments))
    for a, (name, spans) in enumerate(segments.items()):
        marker = SEGMENT_MARKERS[a % len(SEGMENT_MARKERS)]
        offset = -0.3 + 0.6 * (a + 0.5) / n
        for k, span in enumerate(spans or []):
            window = _span_seconds(span, chunk_seconds)
            if window is None:
                continue
            ax.plot(window, [k + offset] * 2, color=colors[name], linewidth=2.2, marker=marker, markersize=4,
                    solid_capstyle="butt", gid=f"segment:{name}")
        handles.append(Line2D([], [], color=colors[name], marker=marker, linewidth=2.2, label=name))
    if step_labels is not None:
        ax.set_yticks(range(K), [f"{k + 1}. {short_label(lbl, max_label_len)}" for k, lbl in enumerate(step_labels)],
                      fontsize=7 if K > 15 else 8)
    else:
        ax.set_yticks(range(K), [str(k + 1) for k in range(K)])
    ax.grid(False)
    ax.set_xlabel("time (seconds)")
    ax.set_ylabel("step")
    if handles:
        legend = ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85, facecolor="0.35",
                           labelcolor="white")
        legend.set_zorder(5)
    return image


def _check_matrix(S) -> np.ndarray:
    S = np.asarray(S, dtype=float)
    if S.ndim != 2 or 0 in S.shape:
        raise VtkitError(f"similarity must be a non-empty [steps, chunks] matrix, got shape {S.shape}", field="S")
    return S


def plot_similarity_heatmap(S, gt_spans=None, segments: Mapping[str, Sequence] | None = None,
                            step_labels: Sequence[str] | None = None, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                            max_label_len: int = 30, first_chunk: int = 0, title: str | None = None,
                            ax: Axes | None = None) -> Figure:
    """Heatmap of ``S`` [K steps, N chunks] with ground-truth boxes and each aligner's segments.

    ``gt_spans``: K spans (or None); ``segments``: aligner name -> K spans (or None), drawn as
    one horizontal line per step in the aligner's colour; x axis in seconds.
    """
    S = _check_matrix(S)
    K, N = S.shape
    segments = dict(segments or {})
    for name, spans in [("gt_spans", gt_spans)] + list(segments.items()):
        if spans is not None and len(spans) != K:
            raise VtkitError(f"{len(spans)} spans for {K} steps", field=name)
    fig, ax = _figure_and_ax(ax, figsize=(min(16, 6 + N * 0.02), 1.2 + 0.32 * K))
    _draw_heatmap(ax, S, gt_spans, segments, step_labels, chunk_seconds, first_chunk, max_label_len)
    ax.set_title(title or "Step-to-chunk similarity")
    return fig


def plot_similarity_distributions(pos, neg, labels=("positive", "negative"), title: str | None = None,
                                  bins: int = 50, ax: Axes | None = None) -> Figure:
    """Densities of positive vs negative similarities, with mean gap and AUC in the legend."""
    fig, ax = _figure_and_ax(ax, figsize=(6, 3.5))
    pos, neg = _as_array(pos), _as_array(neg)
    both = np.concatenate([pos, neg])
    edges = np.linspace(both.min(), both.max() + 1e-9, bins + 1) if both.size else bins
    colors = palette(2)
    for values, label, color in ((pos, labels[0], colors[0]), (neg, labels[1], colors[1])):
        if values.size:
            sns.histplot(values, bins=edges, stat="density", element="step", color=color, alpha=0.35,
                         label=f"{label} (n={values.size}, mean {values.mean():.3f})", ax=ax)
    sep = separation(pos, neg)
    ax.plot([], [], " ", label=f"gap {sep['mean_gap']:.3f}, AUC {sep['auc']:.3f}")
    ax.set_xlabel("similarity")
    ax.set_ylabel("density")
    ax.set_title(title or "Similarity of matching vs non-matching pairs")
    ax.legend(fontsize=8)
    return fig


def plot_trained_vs_untrained(pos_untrained, neg_untrained, pos_trained, neg_trained,
                              labels=("positive", "negative")) -> Figure:
    """Two panels of :func:`plot_similarity_distributions`: before and after training."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.6), sharex=True)
    plot_similarity_distributions(pos_untrained, neg_untrained, labels, title="Untrained (backbone only)", ax=axes[0])
    plot_similarity_distributions(pos_trained, neg_trained, labels, title="Trained", ax=axes[1])
    return fig


def _curve_by_k(curve: Mapping) -> dict[int, tuple]:
    """``{k: (thresholds, recalls)}`` from that form or ``metrics.recall_curve``'s ``{"thresholds", "R1", ...}``."""
    if "thresholds" not in curve:
        return {int(k): v for k, v in curve.items()}
    return {int(key[1:]): (curve["thresholds"], values) for key, values in curve.items()
            if key.startswith("R") and key[1:].isdigit()}


def plot_recall_curves(curves: Mapping[str, Mapping], title: str | None = None) -> Figure:
    """Recall@k vs IoU threshold, one panel per k, one line per aligner.

    ``curves``: aligner -> ``{k: (thresholds, recalls)}`` or aligner -> the output of
    :func:`vtkit.metrics.recall_curve` (``{"thresholds": [...], "R1": [...], "R5": [...]}``).
    """
    if not curves:
        raise VtkitError("no recall curves to plot", field="curves")
    curves = {name: _curve_by_k(curve) for name, curve in curves.items()}
    ks = sorted({int(k) for per_k in curves.values() for k in per_k})
    colors = aligner_colors(curves)
    fig, axes = new_figure(1, len(ks), figsize=(4.8 * len(ks), 3.6), squeeze=False, sharey=True)
    for ax, k in zip(axes.flat, ks):
        for a, (name, per_k) in enumerate(curves.items()):
            entry = per_k.get(k)
            if entry is None:
                continue
            thresholds, recalls = np.asarray(entry[0], float), np.asarray(entry[1], float)
            ax.plot(thresholds, recalls, color=colors[name], marker=SEGMENT_MARKERS[a % len(SEGMENT_MARKERS)],
                    markersize=3, label=name)
        ax.set_xlabel("IoU threshold")
        ax.set_ylabel(f"R@{k}")
        ax.set_title(f"Recall@{k} vs IoU threshold")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _metric_names(tables: Iterable[Mapping[str, float]], metrics) -> list[str]:
    if metrics is not None:
        return list(metrics)
    return list(dict.fromkeys(m for table in tables for m, v in table.items()
                              if isinstance(v, (int, float)) and m != "queries"))   # a count, not a fraction


def _percent_label(names: Sequence[str]) -> str:
    """Y label of bars drawn in percent (recalls: % of queries; mIoU: mean IoU in %)."""
    return "% of queries (mIoU in %)" if "mIoU" in names else "% of queries"


def _grouped_bars(ax: Axes, groups: list[str], series: Mapping[str, list[float]], colors, label_values: bool):
    n = max(1, len(series))
    width = 0.8 / n
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        bars = ax.bar(x - 0.4 + width * (i + 0.5), values, width, color=colors[name], label=name)
        if label_values:
            ax.bar_label(bars, fmt="%.1f", fontsize=6, padding=1)
    ax.set_xticks(x, groups)


def plot_metric_bars(table: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None,
                     title: str | None = None, ax: Axes | None = None) -> Figure:
    """Grouped bars: one group per metric, one bar per aligner (``table[aligner][metric]``).

    Values are fractions in [0, 1] (recalls, mIoU) and are drawn in percent, as the tables show them.
    """
    if not table:
        raise VtkitError("no metrics to plot", field="table")
    names = _metric_names(table.values(), metrics)
    fig, ax = _figure_and_ax(ax, figsize=(max(5, 1.1 * len(names) * max(1, len(table)) ** 0.5 + 2), 3.6))
    series = {a: [100 * float(table[a].get(m, math.nan)) for m in names] for a in table}
    _grouped_bars(ax, names, series, aligner_colors(table), label_values=True)
    ax.set_ylabel(_percent_label(names))
    ax.set_title(title or "Metrics per aligner")
    ax.legend(fontsize=8)
    return fig


def plot_level_breakdown(by_level: Mapping[str, Mapping[str, Mapping[str, float]]],
                         metrics: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """One panel per metric; x = level (step / substep / ...), one bar per aligner.

    ``by_level[aligner][level][metric]``: fractions in [0, 1], drawn in percent.
    """
    if not by_level:
        raise VtkitError("no metrics to plot", field="by_level")
    levels = list(dict.fromkeys(level for per_level in by_level.values() for level in per_level))
    names = _metric_names((t for per_level in by_level.values() for t in per_level.values()), metrics)
    fig, axes = new_figure(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
    colors = aligner_colors(by_level)
    for ax, metric in zip(axes.flat, names):
        series = {a: [100 * float(by_level[a].get(level, {}).get(metric, math.nan)) for level in levels]
                  for a in by_level}
        _grouped_bars(ax, levels, series, colors, label_values=False)
        ax.set_title(metric)
        ax.set_xlabel("level")
    axes.flat[0].set_ylabel(_percent_label(names))
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_step_row(sim_row, gt_span=None, segments: Mapping[str, Any] | None = None, topk: Sequence | None = None,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS, title: str | None = None, first_chunk: int = 0,
                  ax: Axes | None = None) -> Figure:
    """One step's similarity over time, with the ground truth, each aligner's segment and top-k alternatives.

    ``segments``: aligner -> span (or None); ``topk``: ranked spans (best first).
    """
    row = np.asarray(sim_row, dtype=float).ravel()
    if row.size == 0:
        raise VtkitError("empty similarity row", field="sim_row")
    fig, ax = _figure_and_ax(ax, figsize=(10, 3))
    t = chunks_to_seconds(first_chunk + np.arange(row.size + 1), 0, chunk_seconds)[0]   # chunk edges
    ax.stairs(row, t, color="0.2", linewidth=1.2, label="similarity")
    window = _span_seconds(gt_span, chunk_seconds)
    if window is not None:
        ax.axvspan(*window, color="0.75", alpha=0.6, zorder=0, label="ground truth", gid="gt")
    lo, hi = float(np.nanmin(row)), float(np.nanmax(row))
    pad = (hi - lo) or 1.0
    segments = dict(segments or {})
    colors = aligner_colors(segments)
    # aligner bars above the curve, top-k alternatives below it
    for a, (name, span) in enumerate(segments.items()):
        window = _span_seconds(span, chunk_seconds)
        if window is None:
            continue
        y = hi + pad * (0.12 + 0.1 * a)
        ax.plot(window, [y, y], color=colors[name], linewidth=4, solid_capstyle="butt", label=name,
                marker=SEGMENT_MARKERS[a % len(SEGMENT_MARKERS)], markersize=5, gid=f"segment:{name}")
    for r, span in enumerate(topk or []):
        window = _span_seconds(span, chunk_seconds)
        if window is None:
            continue
        y = lo - pad * (0.1 + 0.08 * r)
        ax.plot(window, [y, y], color=TOPK_COLOR, linewidth=2.5, alpha=1.0 - 0.12 * r, solid_capstyle="butt",
                label="top-k alternatives" if r == 0 else "_nolegend_", gid="topk")
        ax.text(window[1], y, f" #{r + 1}", va="center", fontsize=7, color=TOPK_COLOR, clip_on=True)
    n_top = len(topk or [])
    ax.set_ylim(lo - pad * (0.15 + 0.08 * n_top), hi + pad * (0.2 + 0.1 * len(segments)))
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("time (seconds)")
    ax.set_ylabel("similarity")
    ax.set_title(title or "Similarity of one step over time")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_overview(S, gt_spans, path_spans, step_labels: Sequence[str] | None = None,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS, first_chunk: int = 0, path_name: str = "DP",
                  title: str | None = None) -> Figure:
    """What the kit does, in one figure: step-to-chunk similarity with the ground truth and the
    aligned path (top), and the same segments as two timelines in seconds (bottom)."""
    S = _check_matrix(S)
    K, N = S.shape
    fig, (ax_map, ax_lanes) = new_figure(2, 1, figsize=(11, 2.2 + 0.3 * K + 1.4), height_ratios=(0.3 * K + 1, 1.2),
                                          sharex=True)
    _draw_heatmap(ax_map, S, gt_spans, {path_name: path_spans}, step_labels, chunk_seconds, first_chunk,
                  max_label_len=28, colorbar_axes=[ax_map, ax_lanes])
    ax_map.set_xlabel("")
    ax_map.set_title(title or f"Steps (text) × video chunks: similarity, ground truth and the {path_name} alignment")
    colors = palette(K)
    for lane, spans in enumerate((path_spans, gt_spans)):
        for k, span in enumerate(spans):
            window = _span_seconds(span, chunk_seconds)
            if window is None:
                continue
            ax_lanes.broken_barh([(window[0], window[1] - window[0])], (lane - 0.35, 0.7), facecolors=colors[k],
                                 edgecolors="white", linewidth=0.6)
            ax_lanes.text(sum(window) / 2, lane, str(k + 1), ha="center", va="center", fontsize=7, clip_on=True)
    ax_lanes.set_yticks([0, 1], [path_name, "ground truth"])
    ax_lanes.set_ylim(-0.6, 1.6)
    ax_lanes.set_xlim(*chunks_to_seconds(first_chunk, first_chunk + N - 1, chunk_seconds))
    ax_lanes.set_xlabel("time (seconds)")
    ax_lanes.grid(axis="y", visible=False)
    return fig
