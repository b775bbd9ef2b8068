"""Figures for the notebooks and reports (matplotlib + seaborn), ready to put in a paper as they are.

Every ``plot_*`` function takes plain data (numpy arrays, lists of inclusive chunk spans
``(first, last)`` or ``None``, dicts, a CSV path) and returns a :class:`matplotlib.figure.Figure`.
Figures are built with ``Figure()`` rather than ``pyplot``: nothing is shown, no backend is
chosen, and nothing piles up in pyplot's figure registry. In a notebook a returned figure is
displayed as the cell's value (or with ``display(fig)``); :func:`save_figure` writes it to disk.

One style for all figures: :data:`FULL_WIDTH` (a page's text width) or :data:`HALF_WIDTH` (one
column) wide, fonts from :data:`STYLE` sized for that print size, saved at :data:`DPI`. Every
aligner keeps one colour, marker and line style (:func:`aligner_style`, Okabe-Ito colours);
recalls, mIoU and coverage are in percent; legends sit outside the plotting area; video ids
are shortened by one rule (:func:`short_uid`).

Functions that draw a single panel also accept ``ax=`` to draw into an existing axes (the
returned figure is then ``ax.figure``; the legend then goes to the right of that axes).

Spans are chunk indices of the video (chunk ``i`` covers ``[i * chunk_seconds, (i + 1) *
chunk_seconds)``); when a similarity matrix holds only part of the video, its column ``j`` is
chunk ``first_chunk + j``. Axes show seconds.
"""
from __future__ import annotations

import csv
import functools
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from vtkit.errors import VtkitError
from vtkit.io import atomic_path
from vtkit.metrics import duration_buckets, separation  # noqa: F401  (separation: drawn in titles; also plots.separation)
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunks_to_seconds

Span = tuple[int, int]

# ---------------------------------------------------------------------------- style

DPI = 200            # saved figures: FULL_WIDTH -> 1400 px, HALF_WIDTH -> 680 px
FULL_WIDTH = 7.0     # inches: the text width of a page
HALF_WIDTH = 3.4     # inches: one column of a two-column page
MAX_HEIGHT = 9.0     # inches: taller figures would not fit a page
FONT_SIZE = 8        # points at the printed size
SMALL_FONT = 7

STYLE: dict[str, Any] = {
    **sns.axes_style("whitegrid"),
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": SMALL_FONT,
    "ytick.labelsize": SMALL_FONT,
    "legend.fontsize": SMALL_FONT,
    "legend.title_fontsize": SMALL_FONT,
    "legend.frameon": False,
    "figure.titlesize": FONT_SIZE + 1,
    "axes.titlepad": 4.0,
    "axes.labelpad": 2.0,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "patch.linewidth": 0.5,
    "xtick.major.pad": 2.0,
    "ytick.major.pad": 2.0,
    "figure.constrained_layout.h_pad": 0.03,
    "figure.constrained_layout.w_pad": 0.03,
    "savefig.dpi": DPI,
}

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000", "grey": "#999999"}


@dataclass(frozen=True)
class AlignerStyle:
    """How one aligner is drawn in every figure."""

    color: str
    marker: str
    linestyle: Any


ALIGNER_STYLES: dict[str, AlignerStyle] = {
    "dp": AlignerStyle(OKABE_ITO["blue"], "o", "-"),
    "dfs": AlignerStyle(OKABE_ITO["orange"], "s", (0, (4, 2))),
    "dropdtw": AlignerStyle(OKABE_ITO["green"], "D", (0, (1, 1.5))),
    "unordered": AlignerStyle(OKABE_ITO["vermillion"], "^", (0, (5, 1.5, 1, 1.5))),
    "untrained": AlignerStyle(OKABE_ITO["grey"], "v", (0, (2, 2))),
    "untrained dp": AlignerStyle(OKABE_ITO["grey"], "v", (0, (2, 2))),
    "trained": AlignerStyle(OKABE_ITO["sky"], "P", "-"),
}
_EXTRA_STYLES = (AlignerStyle(OKABE_ITO["purple"], "X", (0, (3, 1, 1, 1, 1, 1))),
                 AlignerStyle(OKABE_ITO["sky"], "P", (0, (6, 2))),
                 AlignerStyle(OKABE_ITO["black"], "*", (0, (1, 3))),
                 AlignerStyle(OKABE_ITO["yellow"], "h", "-"))
DATA_COLORS = (OKABE_ITO["sky"], OKABE_ITO["purple"], OKABE_ITO["grey"], OKABE_ITO["black"])  # non-aligner series
CURVE_COLORS = tuple(OKABE_ITO[c] for c in ("sky", "purple", "orange", "green", "vermillion", "black"))  # training curves
GT_COLOR = "black"
TOPK_COLOR = "0.45"
GOAL_COLOR = OKABE_ITO["yellow"]
GOAL_ALPHA = 0.2
STEP_SHADES = ("#2F4B66", "#6A8CAB")      # alternating steps: neighbours stay apart
SUBSTEP_SHADES = ("#8FA9C0", "#BFD0DE")


def palette(n: int) -> list:
    """``n`` colours for series that are not aligners (Okabe-Ito, cycled)."""
    return [DATA_COLORS[i % len(DATA_COLORS)] for i in range(n)]


def aligner_style(name: str, others: Sequence[str] = ()) -> AlignerStyle:
    """The fixed style of aligner ``name`` (case-insensitive); a name outside :data:`ALIGNER_STYLES`
    gets the next free extra style by its position among ``others`` (the unknown names of a figure)."""
    key = str(name).lower()
    if key in ALIGNER_STYLES:
        return ALIGNER_STYLES[key]
    unknown = [n for n in dict.fromkeys(str(o).lower() for o in others) if n not in ALIGNER_STYLES]
    index = unknown.index(key) if key in unknown else len(unknown)
    return _EXTRA_STYLES[index % len(_EXTRA_STYLES)]


def aligner_colors(names: Iterable[str]) -> dict[str, Any]:
    """A fixed colour per aligner name (the same in every figure); other names get the extra colours."""
    names = list(names)
    return {n: aligner_style(n, names).color for n in names}


def report_aligners() -> tuple[str, ...]:
    """The aligners a report shows, in order."""
    import vtkit.align as align

    return tuple(getattr(align, "REPORT_ALIGNERS", align.ALIGNERS))


# ---------------------------------------------------------------------------- helpers


def enable_notebook_display() -> None:
    """In a Jupyter kernel: figures shown as PNG and a VtkitError as one line (see vtkit.notebook_setup)."""
    from vtkit.notebook_setup import setup_notebook

    setup_notebook()


def styled(func):
    """Run a figure function under :data:`STYLE` and fix its tick styling before leaving the style.

    Ticks are created lazily, on the first draw; creating them here keeps the style's sizes
    when the figure is drawn later (saved, displayed) outside the style context.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            fig = func(*args, **kwargs)
            for ax in fig.axes:
                for axis in (ax.xaxis, ax.yaxis):
                    axis.get_major_ticks()
                    axis.get_minor_ticks()
        return fig

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(FULL_WIDTH, 3.0), squeeze: bool = True, **kwargs):
    """``(Figure, axes)``: a pyplot-free figure in :data:`STYLE`, constrained layout."""
    enable_notebook_display()
    width, height = figsize
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width, min(height, MAX_HEIGHT)), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)
        for ax in fig.axes:
            ax.xaxis.get_major_ticks(), ax.yaxis.get_major_ticks()
    return fig, axes


def _figure_and_ax(ax: Axes | None, figsize) -> tuple[Figure, Axes, bool]:
    """``(figure, axes, own)``: ``own`` when the figure was made here (its legend may go below it)."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = new_figure(figsize=figsize)
    return fig, ax, True


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` atomically (format from the suffix, PNG by default) and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with mpl.rc_context(STYLE), atomic_path(path) as tmp:
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


UID_CHARS = 8      # characters of a video id kept where space is short
_GROUP_PREFIX = "grp-"


def short_uid(video_uid: str) -> str:
    """The one rule for video ids in figures: the first 8 characters and "…" (a ``grp-`` prefix is
    kept in front of them); ids of at most 8 (+ prefix) characters stay whole."""
    uid = str(video_uid)
    prefix = _GROUP_PREFIX if uid.startswith(_GROUP_PREFIX) else ""
    body = uid[len(prefix):]
    return uid if len(body) <= UID_CHARS else prefix + body[:UID_CHARS] + "…"


def video_title(video_uid: str, goal_description: str | None = None, max_len: int = 60) -> str:
    """``"<short uid>: <goal description>"`` for a figure title."""
    uid = short_uid(video_uid)
    return f"{uid}: {short_label(goal_description, max_len)}" if goal_description else uid


METRIC_LABELS = {"heldout_t2v_R1": "Text-to-video R@1", "heldout_R1@0.3": "Alignment R1@0.3 (all)",
                 "heldout_step_R1@0.3": "Alignment R1@0.3 (steps)", "heldout_substep_R1@0.3": "Alignment R1@0.3 (substeps)",
                 "train_loss": "train loss", "heldout_loss": "selection-split loss", "lr": "learning rate"}


def metric_label(name: str) -> str:
    """A history / metric column in words (``heldout_t2v_R1`` -> ``Text-to-video R@1``)."""
    return METRIC_LABELS.get(name, name)


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


def _legend(ax: Axes, handles: list, own: bool, ncols: int | None = None):
    """Legend outside the plotting area: below the figure when it is ours, else right of ``ax``."""
    if not handles:
        return None
    if own:
        return _figure_legend(ax.figure, handles, ncols)
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _figure_legend(fig: Figure, handles: list, ncols: int | None = None):
    """One legend under all panels of ``fig`` (constrained layout keeps room for it)."""
    if not handles:
        return None
    return fig.legend(handles=handles, loc="outside lower center", ncols=ncols or min(len(handles), 5))


def _merge_identical(series: Mapping[str, Any], key=lambda v: v) -> list[tuple[list[str], Any]]:
    """Group names whose values are identical: ``[(names, value), ...]`` in first-seen order."""
    groups: list[tuple[list[str], Any, Any]] = []
    for name, value in series.items():
        k = key(value)
        for names, _, other in groups:
            if other == k:
                names.append(name)
                break
        else:
            groups.append(([name], value, k))
    return [(names, value) for names, value, _ in groups]


def group_label(names: Sequence[str], fallbacks: Iterable[str] = ()) -> str:
    """``"dp = dfs = dropdtw"``; an aligner that fell back to the DP is marked ``"dfs (DP fallback)"``."""
    fallbacks = set(fallbacks)
    return " = ".join(f"{n} (DP fallback)" if n in fallbacks else str(n) for n in names)


def _spans_key(spans) -> tuple:
    return tuple(None if s is None else (int(s[0]), int(s[1])) for s in spans or [])


class BarLabel(Text):
    """A label centred on a bar ``[x0, x1]`` (data units), drawn only when it fits inside the bar."""

    def __init__(self, x0: float, x1: float, y: float, text: str, **kwargs):
        super().__init__((x0 + x1) / 2, y, text, ha="center", va="center", **kwargs)
        self.span = (x0, x1)
        self.drawn: bool | None = None   # set on each draw: whether it fitted

    def draw(self, renderer):
        if not self.get_visible() or self.axes is None:
            return
        x0, x1 = self.axes.transData.transform([(self.span[0], 0.0), (self.span[1], 0.0)])[:, 0]
        self.drawn = super().get_window_extent(renderer).width + 2.0 <= abs(x1 - x0)
        if self.drawn:
            super().draw(renderer)


def _bar_label(ax: Axes, x0: float, x1: float, y: float, text: str, color: str = "white") -> BarLabel:
    label = BarLabel(x0, x1, y, text, fontsize=SMALL_FONT - 0.5, color=color, clip_on=True, zorder=4)
    ax.add_artist(label)
    return label


def _text_width_pt(text: str, size: float) -> float:
    """Width of ``text`` in points at font ``size`` (the current font)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    return TextToPath().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0]


def _is_dark(color) -> bool:
    r, g, b = mpl.colors.to_rgb(color)
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.55


# ---------------------------------------------------------------------------- timelines


def _goal_handle() -> Patch:
    return Patch(facecolor=mpl.colors.to_rgba(GOAL_COLOR, GOAL_ALPHA), edgecolor="0.2", linestyle=(0, (3, 2)),
                 linewidth=0.8, label="goal segment")


def _draw_goal(ax: Axes, goal) -> bool:
    if goal is None or goal[0] is None:
        return False
    ax.axvspan(float(goal[0]), float(goal[1]), facecolor=mpl.colors.to_rgba(GOAL_COLOR, GOAL_ALPHA), edgecolor="none",
               zorder=0, gid="goal")
    for x in goal:
        ax.axvline(float(x), color="0.2", linestyle=(0, (3, 2)), linewidth=0.8, zorder=1, gid="goal-edge")
    return True


@styled
def plot_step_timeline(video_steps, goal=None, substeps=None, title: str | None = None,
                       ax: Axes | None = None, label_steps: bool = True, legend: bool = True) -> Figure:
    """Gantt-like timeline of one video: steps on the top lane, substeps below, in seconds.

    ``video_steps`` / ``substeps``: ``(start, end[, label])`` tuples, dicts with start/end or
    Query objects; ``goal``: ``(start, end)`` of the goal segment, tinted. Step numbers are
    drawn on the steps wide enough to hold them.
    """
    lanes = [("steps", video_steps, STEP_SHADES)]
    if substeps is not None:
        lanes.insert(0, ("substeps", substeps, SUBSTEP_SHADES))
    fig, ax, own = _figure_and_ax(ax, figsize=(FULL_WIDTH, 0.75 + 0.38 * len(lanes)))
    has_goal = _draw_goal(ax, goal)
    for lane, (name, items, shades) in enumerate(lanes):
        intervals = [iv for iv in map(_interval, items or []) if iv is not None]
        for i, (start, end, _label) in enumerate(intervals):
            color = shades[i % 2]
            ax.broken_barh([(start, end - start)], (lane - 0.36, 0.72), facecolors=color,
                           edgecolors="white", linewidth=0.5, zorder=2)
            if name == "steps" and label_steps and end > start:
                _bar_label(ax, start, end, lane, str(i + 1), "white" if _is_dark(color) else "black")
    ax.set_yticks(range(len(lanes)), [name for name, _, _ in lanes])
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.set_xlabel("time (seconds)")
    ax.set_title(title or "Step timeline")
    ax.grid(axis="y", visible=False)
    if legend and has_goal:
        _legend(ax, [_goal_handle()], own)
    return fig


def _video_fields(video) -> dict:
    """Normalise a Video object or a dict to title / steps / substeps / goal."""
    if isinstance(video, Mapping):
        return {"title": video.get("title", video.get("video_uid", "")), "steps": video.get("steps", []),
                "substeps": video.get("substeps"), "goal": video.get("goal")}
    goal = (video.start_time, video.end_time) if getattr(video, "start_time", None) is not None else None
    return {"title": video_title(video.video_uid, getattr(video, "goal_description", None)), "steps": video.steps,
            "substeps": video.substeps, "goal": goal}


@styled
def plot_timelines(videos: Sequence, max_videos: int = 6, ncols: int = 1) -> Figure:
    """A grid of :func:`plot_step_timeline`, one panel per video (Video objects or dicts)."""
    videos = list(videos)[:max_videos]
    if not videos:
        raise VtkitError("no videos to plot", field="videos")
    nrows = math.ceil(len(videos) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(FULL_WIDTH, 1.25 * nrows + 0.35), squeeze=False)
    has_goal = False
    for ax, video in zip(axes.flat, videos):
        fields = _video_fields(video)
        plot_step_timeline(fields["steps"], goal=fields["goal"], substeps=fields["substeps"],
                           title=fields["title"], ax=ax, legend=False)
        has_goal = has_goal or (fields["goal"] is not None and fields["goal"][0] is not None)
    for i, ax in enumerate(axes.flat):
        if i >= len(videos):
            ax.set_visible(False)
        elif i + ncols < len(videos):   # a panel below shows the x label
            ax.set_xlabel("")
    if has_goal:
        _figure_legend(fig, [_goal_handle()])
    return fig


# ---------------------------------------------------------------------------- dataset statistics


def _median_line(ax: Axes, values: np.ndarray) -> float | None:
    if not values.size:
        return None
    median = float(np.median(values))
    ax.axvline(median, color="black", linestyle=(0, (4, 2)), linewidth=0.9, gid="median")
    return median


@styled
def plot_duration_histograms(step_durations, substep_durations=None, bins: int = 40,
                             log_x: bool = True) -> Figure:
    """Histograms of step and substep durations (seconds); the dashed line is the median (in the title)."""
    groups = [("steps", step_durations)]
    if substep_durations is not None:
        groups.append(("substeps", substep_durations))
    fig, axes = new_figure(1, len(groups), figsize=(FULL_WIDTH if len(groups) > 1 else HALF_WIDTH, 2.3),
                           squeeze=False)
    for ax, color, (name, values) in zip(axes.flat, palette(len(groups)), groups):
        values = _as_array(values)
        positive = values[values > 0]
        if log_x and positive.size:
            edges = np.geomspace(positive.min(), positive.max(), bins + 1) if positive.min() < positive.max() \
                else bins
            ax.hist(positive, bins=edges, color=color, edgecolor="white", linewidth=0.3)
            ax.set_xscale("log")
        else:
            ax.hist(values, bins=bins, color=color, edgecolor="white", linewidth=0.3)
        median = _median_line(ax, values)
        ax.set_xlabel("duration (seconds)")
        ax.set_ylabel("count")
        stats = f"n = {values.size:,}" + (f", median {median:.1f} s (dashed)" if median is not None else "")
        ax.set_title(f"{name.capitalize()}: {stats}")
    return fig


@styled
def plot_coverage_histogram(coverages, bins: int = 20, ax: Axes | None = None) -> Figure:
    """Histogram of the share of each goal segment covered by its steps, in percent."""
    fig, ax, _own = _figure_and_ax(ax, figsize=(HALF_WIDTH, 2.3))
    values = 100 * _as_array(coverages)
    ax.hist(values, bins=np.linspace(0, max(100.0, values.max(initial=100.0)), bins + 1), color=palette(1)[0],
            edgecolor="white", linewidth=0.3)
    title = f"Step coverage per video (n = {values.size})"
    if values.size:
        ax.axvline(values.mean(), color="black", linestyle=(0, (4, 2)), linewidth=0.9, gid="mean")
        title += f"\nmean {values.mean():.0f} % (dashed)"
    ax.set_xlabel("goal segment covered by steps (%)")
    ax.set_ylabel("videos")
    ax.set_title(title)
    return fig


@styled
def plot_description_stats(descriptions: Sequence[str], top: int = 15, max_label_len: int = 40) -> Figure:
    """Words per description (histogram) and the most repeated descriptions (bar chart)."""
    descriptions = [" ".join(str(d).split()) for d in descriptions]
    words = np.array([len(d.split()) for d in descriptions], dtype=float)
    fig, (ax_words, ax_top) = new_figure(1, 2, figsize=(FULL_WIDTH, 0.9 + 0.14 * max(top, 8)), width_ratios=(1, 1.4))
    colors = palette(2)
    title = f"Description length (n = {len(descriptions):,})"
    if words.size:
        ax_words.hist(words, bins=np.arange(0.5, words.max() + 1.5), color=colors[0], edgecolor="white",
                      linewidth=0.3)
        _median_line(ax_words, words)
        title += f"\nmedian {np.median(words):.0f} words (dashed)"
    ax_words.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_words.set_xlabel("words per description")
    ax_words.set_ylabel("descriptions")
    ax_words.set_title(title)

    counts = Counter(d.lower() for d in descriptions)
    repeated = [(text, n) for text, n in counts.most_common(top) if n > 1]
    if repeated:
        labels = [short_label(text, max_label_len) for text, _ in repeated][::-1]
        ax_top.barh(labels, [n for _, n in repeated][::-1], color=colors[1])
        ax_top.tick_params(axis="y", labelsize=SMALL_FONT - 0.5)
    else:
        ax_top.text(0.5, 0.5, "no repeated descriptions", ha="center", va="center", transform=ax_top.transAxes)
    ax_top.xaxis.set_major_locator(MaxNLocator(integer=True))
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


@dataclass
class _Panel:
    title: str
    columns: list[str]
    ylabel: str
    percent: bool = False


def _history_panels(columns: list[str]) -> list[_Panel]:
    """Group history columns into panels (loss, retrieval, alignment, learning rate)."""
    loss = [c for c in columns if c.endswith("loss")]
    align = [c for c in columns if "align" in c or "R1@" in c or "R5@" in c]   # grounding at an IoU threshold
    retrieval = [c for c in columns if c not in align and ("R1" in c or "R5" in c or "R@" in c or "recall" in c)]
    lr = [c for c in columns if c == "lr" or c.endswith("_lr") or c == "learning_rate"]

    def recall_label(cols: list[str], default: str) -> str:
        names = {metric_label(c) for c in cols}
        return f"{names.pop() if len(names) == 1 else default} (%)"

    panels = [_Panel("Loss", loss, "Loss"),
              _Panel("Retrieval", retrieval, recall_label(retrieval, "Recall"), percent=True),
              _Panel("Alignment", align, recall_label(align, "Recall"), percent=True),
              _Panel("Learning rate", lr, "Learning rate")]
    return [p for p in panels if p.columns]


# the selection rule of training: the alignment metric while it can be scored, ties to the lower val loss
_SELECTION_METRICS = ("heldout_R1@0.3", "heldout_t2v_R1")


def best_epoch_of(rows: list[dict[str, float]], x: str = "epoch", metric: str | None = None) -> float | None:
    """The ``x`` of the best row: highest ``metric`` (default: the first selection metric with
    values), ties broken by the lower ``heldout_loss``; None when no row has the metric."""
    metrics = [metric] if metric else [m for m in _SELECTION_METRICS if any(math.isfinite(r.get(m, math.nan))
                                                                             for r in rows)]
    if not metrics:
        return None
    scored = [r for r in rows if math.isfinite(r.get(metrics[0], math.nan)) and x in r]
    if not scored:
        return None
    best = max(scored, key=lambda r: (r[metrics[0]], -r.get("heldout_loss", 0.0) if math.isfinite(
        r.get("heldout_loss", math.nan)) else 0.0))
    return best[x]


@styled
def plot_training_curves(history, x: str | None = None, best_epoch: float | None = None,
                         metric: str | None = None) -> Figure:
    """Loss (train / validation), retrieval recall, alignment recall (percent) and learning rate per epoch.

    ``history``: list of dicts or the path of a ``history.csv``. Panels only appear for the
    columns present (``*loss``; ``*R1*``/``*R5*``; ``*align*``/``*R1@*``; ``lr``). The best epoch is marked
    by a dotted line in every panel: ``best_epoch`` when given, else the row with the highest
    ``metric`` (default ``heldout_R1@0.3``, then ``heldout_t2v_R1``; ties to the lower selection loss).
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
    if best_epoch is None and x == "epoch":
        best_epoch = best_epoch_of(rows, x, metric)
    ncols = 2 if len(panels) >= 2 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(FULL_WIDTH if ncols == 2 else HALF_WIDTH, 1.8 * nrows + 0.4),
                           squeeze=False, sharex=True)
    handles: dict[str, Any] = {}
    used = 0   # every line of the figure gets its own colour, so the one legend is unambiguous
    for ax, panel in zip(axes.flat, panels):
        if len(panel.columns) > 1:
            colors = [CURVE_COLORS[(used + i) % len(CURVE_COLORS)] for i in range(len(panel.columns))]
            used += len(panel.columns)
        else:
            colors = [OKABE_ITO["blue"]]
        for color, col in zip(colors, panel.columns):
            ys = np.array([row.get(col, math.nan) for row in rows]) * (100 if panel.percent else 1)
            keep = np.isfinite(ys) & np.isfinite(xs)
            line, = ax.plot(xs[keep], ys[keep], marker="o", color=color, label=metric_label(col), gid=col)
            if len(panel.columns) > 1:
                handles.setdefault(line.get_label(), line)
        if panel.title == "Learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.25", linestyle=(0, (1, 1.5)), linewidth=1.0, gid="best-epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))   # epochs / steps: no 0.5 ticks
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel((x or "epoch").capitalize())
    if len(panels) % ncols:   # the empty last cell: its neighbour above gets the x label
        axes[-2][-1].set_xlabel((x or "epoch").capitalize())
        axes[-2][-1].tick_params(labelbottom=True)
    if best_epoch is not None:
        handles["best"] = Line2D([], [], color="0.25", linestyle=(0, (1, 1.5)), linewidth=1.0,
                                 label=f"best {x or 'epoch'} ({best_epoch:g})")
    _figure_legend(fig, list(handles.values()), ncols=min(len(handles), 3))
    return fig


# ---------------------------------------------------------------------------- similarity and alignment


def _gt_effects() -> list:
    return [patheffects.withStroke(linewidth=2.6, foreground="black")]


def _gt_handle() -> Patch:
    return Patch(facecolor="none", edgecolor="white", linewidth=1.2, path_effects=_gt_effects(), label="ground truth")


def _segment_handle(names: Sequence[str], label: str) -> Line2D:
    style = aligner_style(names[0])
    return Line2D([], [], color=style.color, marker=style.marker, linewidth=1.8, markeredgecolor="black",
                  markeredgewidth=0.5, label=label)


def _row_labels(ax: Axes, K: int, step_labels, max_label_len: int, height_in: float):
    """Step names on the y axis; with more rows than fit at a readable size, every n-th."""
    fontsize = SMALL_FONT if K <= 20 else SMALL_FONT - 1
    every = max(1, math.ceil(K * (fontsize + 1.5) / 72 / max(height_in, 0.1)))
    rows = list(range(0, K, every))
    labels = [f"{k + 1}. {short_label(step_labels[k], max_label_len)}" if step_labels is not None else str(k + 1)
              for k in rows]
    ax.set_yticks(rows, labels, fontsize=fontsize)


def _draw_heatmap(ax: Axes, S: np.ndarray, gt_spans, segments: Mapping[str, Sequence], step_labels,
                  chunk_seconds: float, first_chunk: int, max_label_len: int, colorbar_axes=None,
                  cmap: str = "viridis", fallbacks: Iterable[str] = (), height_in: float = 3.0) -> list:
    """The matrix, ground-truth boxes and one line per aligned step; returns the legend handles."""
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
            ax.add_patch(Rectangle((window[0], k - 0.5), window[1] - window[0], 1.0, fill=False, edgecolor="white",
                                   linewidth=1.0, path_effects=_gt_effects(), gid="gt", zorder=3))
        handles.append(_gt_handle())
    groups = _merge_identical(dict(segments), key=_spans_key)
    for g, (names, spans) in enumerate(groups):
        style = aligner_style(names[0], list(segments))
        offset = -0.25 + 0.5 * (g + 0.5) / len(groups) if len(groups) > 1 else 0.0
        for k, span in enumerate(spans or []):
            window = _span_seconds(span, chunk_seconds)
            if window is None:
                continue
            # a black line under the coloured one: visible on dark and on bright cells (markers stay crisp)
            ax.plot(window, [k + offset] * 2, color="black", linewidth=2.8, solid_capstyle="butt", zorder=4,
                    gid="segment-outline")
            ax.plot(window, [k + offset] * 2, color=style.color, linewidth=1.8, marker=style.marker,
                    markersize=2.6 if K > 20 else 3.2, markeredgecolor="black", markeredgewidth=0.5,
                    solid_capstyle="butt", zorder=4, gid=f"segment:{'='.join(names)}")
        handles.append(_segment_handle(names, group_label(names, fallbacks)))
    _row_labels(ax, K, step_labels, max_label_len, height_in)
    ax.grid(False)
    ax.set_xlabel("time (seconds)")
    ax.set_ylabel("step")
    return handles


def _check_matrix(S) -> np.ndarray:
    S = np.asarray(S, dtype=float)
    if S.ndim != 2 or 0 in S.shape:
        raise VtkitError(f"similarity must be a non-empty [steps, chunks] matrix, got shape {S.shape}", field="S")
    return S


def _matrix_height(K: int) -> float:
    """Inches for the matrix of K rows: 0.17 in a row, capped so the figure fits a page."""
    return min(MAX_HEIGHT - 1.4, max(1.2, 0.17 * K))


@styled
def plot_similarity_heatmap(S, gt_spans=None, segments: Mapping[str, Sequence] | None = None,
                            step_labels: Sequence[str] | None = None, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                            max_label_len: int = 30, first_chunk: int = 0, title: str | None = None,
                            ax: Axes | None = None, fallbacks: Iterable[str] = ()) -> Figure:
    """Heatmap of ``S`` [K steps, N chunks] with ground-truth boxes and each aligner's segments.

    ``gt_spans``: K spans (or None); ``segments``: aligner name -> K spans (or None), drawn as
    one horizontal line per step in the aligner's colour; aligners with identical segments share
    one line and one legend entry (``dp = dfs``); ``fallbacks``: aligners whose answer is the DP's
    stand-in (a DFS over its node budget), marked ``(DP fallback)``; x axis in seconds.
    """
    S = _check_matrix(S)
    K, _N = S.shape
    segments = dict(segments or {})
    for name, spans in [("gt_spans", gt_spans)] + list(segments.items()):
        if spans is not None and len(spans) != K:
            raise VtkitError(f"{len(spans)} spans for {K} steps", field=name)
    height = _matrix_height(K)
    fig, ax, own = _figure_and_ax(ax, figsize=(FULL_WIDTH, height + 1.1))
    handles = _draw_heatmap(ax, S, gt_spans, segments, step_labels, chunk_seconds, first_chunk, max_label_len,
                            fallbacks=fallbacks, height_in=height)
    _legend(ax, handles, own)
    ax.set_title(title or "Step-to-chunk similarity")
    return fig


@styled
def plot_similarity_distributions(pos, neg, labels=("positive", "negative"), title: str | None = None,
                                  bins: int = 50, ax: Axes | None = None, legend: bool = True) -> Figure:
    """Densities of positive vs negative similarities; AUC, mean gap and counts in the title."""
    fig, ax, own = _figure_and_ax(ax, figsize=(HALF_WIDTH, 2.5))
    pos, neg = _as_array(pos), _as_array(neg)
    both = np.concatenate([pos, neg])
    edges = np.linspace(both.min(), both.max() + 1e-9, bins + 1) if both.size else bins
    colors = (OKABE_ITO["blue"], OKABE_ITO["grey"])
    handles = []
    for values, label, color in ((pos, labels[0], colors[0]), (neg, labels[1], colors[1])):
        if values.size:
            sns.histplot(values, bins=edges, stat="density", element="step", color=color, alpha=0.35,
                         linewidth=0.8, ax=ax)
            handles.append(Patch(facecolor=mpl.colors.to_rgba(color, 0.35), edgecolor=color, label=label))
    sep = separation(pos, neg)
    ax.set_xlabel("similarity")
    ax.set_ylabel("density")
    ax.set_title(f"{title or 'Matching vs non-matching pairs'}\n"
                 f"AUC {sep['auc']:.3f}, gap {sep['mean_gap']:.3f}, n {pos.size:,} / {neg.size:,}")
    if legend:
        _legend(ax, handles, own)
    return fig


@styled
def plot_trained_vs_untrained(pos_untrained, neg_untrained, pos_trained, neg_trained,
                              labels=("positive", "negative")) -> Figure:
    """Two panels of :func:`plot_similarity_distributions`: before and after training, one legend."""
    fig, axes = new_figure(1, 2, figsize=(FULL_WIDTH, 2.6), sharex=True)
    plot_similarity_distributions(pos_untrained, neg_untrained, labels, title="Untrained (backbone only)",
                                  ax=axes[0], legend=False)
    plot_similarity_distributions(pos_trained, neg_trained, labels, title="Trained", ax=axes[1], legend=False)
    colors = (OKABE_ITO["blue"], OKABE_ITO["grey"])
    _figure_legend(fig, [Patch(facecolor=mpl.colors.to_rgba(c, 0.35), edgecolor=c, label=lbl)
                         for c, lbl in zip(colors, labels)])
    return fig


def _curve_by_k(curve: Mapping) -> dict[int, tuple]:
    """``{k: (thresholds, recalls)}`` from that form or ``metrics.recall_curve``'s ``{"thresholds", "R1", ...}``."""
    if "thresholds" not in curve:
        return {int(k): v for k, v in curve.items()}
    return {int(key[1:]): (curve["thresholds"], values) for key, values in curve.items()
            if key.startswith("R") and key[1:].isdigit()}


def _curves_key(per_k: Mapping[int, tuple]) -> tuple:
    return tuple((k, tuple(np.round(np.asarray(t, float), 9)), tuple(np.round(np.asarray(r, float), 9)))
                 for k, (t, r) in sorted(per_k.items()))


@styled
def plot_recall_curves(curves: Mapping[str, Mapping], title: str | None = None) -> Figure:
    """Recall@k (percent) vs IoU threshold, one panel per k, one line per aligner.

    ``curves``: aligner -> ``{k: (thresholds, recalls)}`` or aligner -> the output of
    :func:`vtkit.metrics.recall_curve` (``{"thresholds": [...], "R1": [...], "R5": [...]}``).
    Aligners with identical curves share one line, labelled ``dp = dfs = dropdtw``.
    """
    if not curves:
        raise VtkitError("no recall curves to plot", field="curves")
    curves = {name: _curve_by_k(curve) for name, curve in curves.items()}
    ks = sorted({int(k) for per_k in curves.values() for k in per_k})
    groups = _merge_identical(curves, key=_curves_key)
    fig, axes = new_figure(1, len(ks), figsize=(FULL_WIDTH if len(ks) > 1 else HALF_WIDTH, 2.6), squeeze=False,
                           sharey=True)
    handles = {}
    for ax, k in zip(axes.flat, ks):
        for names, per_k in groups:
            entry = per_k.get(k)
            if entry is None:
                continue
            style = aligner_style(names[0], list(curves))
            thresholds, recalls = np.asarray(entry[0], float), 100 * np.asarray(entry[1], float)
            line, = ax.plot(thresholds, recalls, color=style.color, marker=style.marker, markersize=2.8,
                            linestyle=style.linestyle, label=group_label(names), gid="=".join(names))
            handles.setdefault(line.get_label(), line)
        ax.set_xlabel("IoU threshold")
        ax.set_ylabel(f"R@{k} (%)")
        ax.set_title(f"Recall@{k} vs IoU threshold")
    top = max((np.nanmax(line.get_ydata(), initial=0.0) for ax in axes.flat for line in ax.lines), default=0.0)
    axes.flat[0].set_ylim(0, min(100.0, max(top, 1.0) * 1.06) if top <= 100 else top * 1.06)   # shared by all
    if title:
        fig.suptitle(title)
    _figure_legend(fig, list(handles.values()))
    return fig


def _metric_names(tables: Iterable[Mapping[str, float]], metrics) -> list[str]:
    if metrics is not None:
        return list(metrics)
    return list(dict.fromkeys(m for table in tables for m, v in table.items()
                              if isinstance(v, (int, float)) and m != "queries"))   # a count, not a fraction


def _percent_label(names: Sequence[str]) -> str:
    """Y label of bars drawn in percent (recalls: % of queries; mIoU: mean IoU in %)."""
    return "% of queries (mIoU in %)" if "mIoU" in names else "% of queries"


def _grouped_bars(ax: Axes, groups: list[str], series: Mapping[str, list[float]], label_values: bool):
    n = max(1, len(series))
    width = 0.8 / n
    x = np.arange(len(groups))
    names = list(series)
    bars_by_name = {}
    for i, (name, values) in enumerate(series.items()):
        color = aligner_style(name, names).color
        # the edge in the bar's colour keeps a 0 % bar visible as a line on the baseline
        bars_by_name[name] = ax.bar(x - 0.4 + width * (i + 0.5), values, width, color=color, edgecolor=color,
                                    linewidth=0.8, label=name)
    ax.axhline(0, color="0.15", linewidth=0.8, zorder=3, gid="baseline")
    if label_values:   # upright labels when they fit side by side, else turned
        ax.figure.draw_without_rendering()
        bar_pt = abs(ax.transData.transform((width, 0))[0] - ax.transData.transform((0, 0))[0]) * 72 / ax.figure.dpi
        size = SMALL_FONT - 1
        widest = max((_text_width_pt(f"{v:.1f}", size) for vs in series.values() for v in vs if math.isfinite(v)),
                     default=0.0)
        rotation = 0 if widest + 1.5 <= bar_pt else 90
        for bars in bars_by_name.values():
            ax.bar_label(bars, fmt="%.1f", fontsize=size, padding=1.5, rotation=rotation)
        ax.margins(y=0.14 if rotation == 0 else 0.22)
    ax.set_xticks(x, groups)
    ax.grid(axis="x", visible=False)
    return [bars_by_name[name] for name in names]


@styled
def plot_metric_bars(table: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None,
                     title: str | None = None, ax: Axes | None = None) -> Figure:
    """Grouped bars: one group per metric, one bar per aligner (``table[aligner][metric]``).

    Values are fractions in [0, 1] (recalls, mIoU) and are drawn in percent, as the tables show
    them, each with its value; metric names are shown in words (:func:`metric_label`).
    """
    if not table:
        raise VtkitError("no metrics to plot", field="table")
    names = _metric_names(table.values(), metrics)
    width = FULL_WIDTH if len(names) * len(table) > 6 else HALF_WIDTH
    fig, ax, own = _figure_and_ax(ax, figsize=(width, 2.6))
    series = {a: [100 * float(table[a].get(m, math.nan)) for m in names] for a in table}
    bars = _grouped_bars(ax, [metric_label(m) for m in names], series, label_values=True)
    ax.set_ylabel(_percent_label(names))
    ax.set_title(title or "Metrics per aligner")
    _legend(ax, bars, own)
    return fig


@styled
def plot_level_breakdown(by_level: Mapping[str, Mapping[str, Mapping[str, float]]],
                         metrics: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """One panel per metric; x = level (step / substep / ...), one bar per aligner.

    ``by_level[aligner][level][metric]``: fractions in [0, 1], drawn in percent.
    """
    if not by_level:
        raise VtkitError("no metrics to plot", field="by_level")
    levels = list(dict.fromkeys(level for per_level in by_level.values() for level in per_level))
    names = _metric_names((t for per_level in by_level.values() for t in per_level.values()), metrics)
    fig, axes = new_figure(1, len(names), figsize=(FULL_WIDTH, 2.4), squeeze=False, sharey=True)
    bars = []
    for ax, metric in zip(axes.flat, names):
        series = {a: [100 * float(by_level[a].get(level, {}).get(metric, math.nan)) for level in levels]
                  for a in by_level}
        bars = _grouped_bars(ax, levels, series, label_values=False)
        ax.set_title(metric_label(metric))
    axes.flat[0].set_ylabel(_percent_label(names))
    if title:
        fig.suptitle(title)
    _figure_legend(fig, bars)
    return fig


@styled
def plot_duration_breakdown(by_duration: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str = "R1@0.3",
                            title: str | None = None, ax: Axes | None = None) -> Figure:
    """``metric`` per annotated-duration bucket (x), one bar per level, each bucket's query counts under it.

    ``by_duration[level][bucket][metric]`` (fractions, drawn in percent), as :func:`vtkit.metrics.score`
    gives it for one aligner; buckets are drawn in the order of :func:`vtkit.metrics.duration_buckets`.
    """
    if not by_duration or not any(by_duration.values()):
        raise VtkitError("no metrics to plot", field="by_duration")
    levels = list(by_duration)
    buckets = [b for b in duration_buckets() if any(b in by_duration[lvl] for lvl in levels)]
    fig, ax, own = _figure_and_ax(ax, figsize=(FULL_WIDTH, 2.8))
    series = {lvl: [100 * float(by_duration[lvl].get(b, {}).get(metric, math.nan)) for b in buckets] for lvl in levels}
    counts = [" | ".join(str(by_duration[lvl].get(b, {}).get("queries", 0)) for lvl in levels) for b in buckets]
    bars = _grouped_bars(ax, [f"{b}\n{n}" for b, n in zip(buckets, counts)], series, label_values=True)
    ax.set_xlabel(f"annotated duration (queries: {' | '.join(levels)})")
    ax.set_ylabel(f"{metric_label(metric)} (%)")
    ax.set_title(title or f"{metric_label(metric)} by annotated duration")
    _legend(ax, bars, own)
    return fig


def _split_axes(ax, height_ratios) -> tuple[Axes, Axes]:
    """Two stacked axes (shared x) in the place of ``ax``, or ``ax`` itself when it is already a pair."""
    if isinstance(ax, (tuple, list)):
        return ax[0], ax[1]
    fig = ax.figure
    spec = ax.get_subplotspec()
    if spec is None:
        lanes = ax.inset_axes((0.0, -0.5, 1.0, 0.3), sharex=ax)
        return ax, lanes
    fig.delaxes(ax)
    inner = spec.subgridspec(2, 1, height_ratios=height_ratios, hspace=0.0)
    top = fig.add_subplot(inner[0])
    return top, fig.add_subplot(inner[1], sharex=top)


def _lane_rows(gt_span, segments: Mapping[str, Any], topk: Sequence, fallbacks: Iterable[str]) -> list:
    """``[(label, span, color, gid)]`` top to bottom: ground truth, each aligner group, top-k."""
    rows = [("ground truth", gt_span, GT_COLOR, "gt-lane")]
    for names, span in _merge_identical(dict(segments), key=lambda s: None if s is None else tuple(map(int, s))):
        rows.append((group_label(names, fallbacks), span, aligner_style(names[0], list(segments)).color,
                     f"segment:{'='.join(names)}"))
    rows += [(f"top {r + 1}", span, TOPK_COLOR, "topk") for r, span in enumerate(topk)]
    return rows


@styled
def plot_step_row(sim_row, gt_span=None, segments: Mapping[str, Any] | None = None, topk: Sequence | None = None,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS, title: str | None = None, first_chunk: int = 0,
                  ax=None, xlim: tuple[float, float] | None = None, fallbacks: Iterable[str] = ()) -> Figure:
    """One step's similarity over time (top) above a lane per segment (bottom): the ground truth,
    each aligner's segment (identical ones share a lane) and the top-k alternatives, in rank order.

    ``segments``: aligner -> span (or None); ``topk``: ranked spans (best first); ``xlim``:
    seconds to show (default: the whole row); ``fallbacks``: aligners marked ``(DP fallback)``.
    ``ax``: an axes to split into the two, or a pair ``(similarity axes, lane axes)``.
    """
    row = np.asarray(sim_row, dtype=float).ravel()
    if row.size == 0:
        raise VtkitError("empty similarity row", field="sim_row")
    rows = _lane_rows(gt_span, segments or {}, list(topk or []), fallbacks)
    lane_height = 0.13 * len(rows)
    if ax is None:
        fig, (ax_sim, ax_lanes) = new_figure(2, 1, figsize=(FULL_WIDTH, 1.9 + lane_height),
                                             height_ratios=(1.5, lane_height), sharex=True)
    else:
        ax_sim, ax_lanes = _split_axes(ax, (1.5, lane_height))
        if not ax_sim.get_shared_x_axes().joined(ax_sim, ax_lanes):
            ax_lanes.sharex(ax_sim)
        fig = ax_sim.figure
    ax_sim.set_label("similarity")
    ax_lanes.set_label("lanes")
    t = chunks_to_seconds(first_chunk + np.arange(row.size + 1), 0, chunk_seconds)[0]   # chunk edges
    ax_sim.stairs(row, t, color="0.15", linewidth=0.9, label="similarity")
    gt_window = _span_seconds(gt_span, chunk_seconds)
    if gt_window is not None:
        ax_sim.axvspan(*gt_window, color="0.8", alpha=0.7, zorder=0, linewidth=0, gid="gt")
    for lane, (label, span, color, gid) in enumerate(rows):
        window = _span_seconds(span, chunk_seconds)
        if window is None:
            continue
        ax_lanes.add_patch(Rectangle((window[0], lane - 0.38), window[1] - window[0], 0.76, facecolor=color,
                                     edgecolor="none", gid=gid))
    ax_lanes.set_yticks(range(len(rows)), [label for label, *_ in rows])
    ax_lanes.set_ylim(len(rows) - 0.5, -0.5)
    ax_lanes.grid(axis="y", visible=False)
    ax_lanes.tick_params(axis="y", labelsize=SMALL_FONT - 0.5)
    ax_sim.set_xlim(*(xlim if xlim is not None else (t[0], t[-1])))
    ax_sim.tick_params(labelbottom=False)
    ax_lanes.set_xlabel("time (seconds)")
    ax_sim.set_ylabel("similarity")
    ax_sim.set_title(title or "Similarity of one step over time")
    return fig


@styled
def plot_overview(S, gt_spans, path_spans, step_labels: Sequence[str] | None = None,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS, first_chunk: int = 0, path_name: str = "DP",
                  title: str | None = None) -> Figure:
    """What the kit does, in one figure: step-to-chunk similarity with the ground truth and the
    aligned path (top), and the same segments as two timelines in seconds (bottom)."""
    S = _check_matrix(S)
    K, N = S.shape
    height = _matrix_height(K)
    fig, (ax_map, ax_lanes) = new_figure(2, 1, figsize=(FULL_WIDTH, height + 1.9), height_ratios=(height, 0.55),
                                         sharex=True)
    handles = _draw_heatmap(ax_map, S, gt_spans, {path_name: path_spans}, step_labels, chunk_seconds, first_chunk,
                            max_label_len=28, colorbar_axes=[ax_map, ax_lanes], height_in=height)
    ax_map.set_xlabel("")
    ax_map.set_title(title or f"Steps (text) × video chunks: similarity, ground truth and the {path_name} alignment")
    path_color = aligner_style(path_name).color
    lane_shades = (_shades(path_color), ("0.15", "0.5"))
    for lane, spans in enumerate((path_spans, gt_spans)):
        for k, span in enumerate(spans):
            window = _span_seconds(span, chunk_seconds)
            if window is None:
                continue
            color = lane_shades[lane][k % 2]
            ax_lanes.broken_barh([(window[0], window[1] - window[0])], (lane - 0.36, 0.72), facecolors=color,
                                 edgecolors="white", linewidth=0.5)
            _bar_label(ax_lanes, window[0], window[1], lane, str(k + 1), "white" if _is_dark(color) else "black")
    ax_lanes.set_yticks([0, 1], [path_name, "ground truth"])
    ax_lanes.set_ylim(-0.6, 1.6)
    ax_lanes.set_xlim(*chunks_to_seconds(first_chunk, first_chunk + N - 1, chunk_seconds))
    ax_lanes.set_xlabel("time (seconds)")
    ax_lanes.grid(axis="y", visible=False)
    _figure_legend(fig, handles)
    return fig


def _shades(color) -> tuple:
    """The colour and a lighter tint of it (alternating bars)."""
    rgb = np.array(mpl.colors.to_rgb(color))
    return tuple(rgb), tuple(rgb + (1 - rgb) * 0.45)


# ---------------------------------------------------------------------------- frames


def _frame_row(fig, frames, times, label: str):
    frames = [np.asarray(f) for f in (frames or [])]
    for f in frames:
        if f.ndim != 3 or f.shape[2] not in (3, 4):
            raise VtkitError(f"a frame must be an H x W x 3 array, got shape {f.shape}", field="frames")
    if not frames:
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{label}: no frames", ha="center", va="center", transform=ax.transAxes)
        return
    axes = np.atleast_1d(fig.subplots(1, len(frames)))
    for i, (ax, frame) in enumerate(zip(axes, frames)):
        ax.imshow(frame if frame.dtype == np.uint8 else np.clip(frame, 0, 1), interpolation="antialiased")
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if times is not None and i < len(times):
            ax.set_xlabel(f"{float(times[i]):.1f} s", fontsize=SMALL_FONT - 0.5, labelpad=1)
    fig.suptitle(label, fontsize=SMALL_FONT + 0.5, x=0.0, ha="left")


@styled
def plot_frame_strip(frames_pred: Sequence, frames_gt: Sequence | None = None, times_pred: Sequence | None = None,
                     times_gt: Sequence | None = None, labels: tuple[str, str] = ("prediction", "ground truth"),
                     title: str | None = None) -> Figure:
    """Frames of the predicted segment above those of the ground truth, one row each.

    ``frames_*``: already-decoded frames (``H x W x 3`` arrays, uint8 or floats in [0, 1]);
    ``times_*``: their times in seconds (captions); ``labels``: the row titles (e.g. with the
    windows' times). A row without frames says so.
    """
    rows = [(frames_pred, times_pred, labels[0])]
    if frames_gt is not None:
        rows.append((frames_gt, times_gt, labels[1]))
    n = max([len(r[0] or []) for r in rows] + [1])
    sample = next((np.asarray(f) for r in rows for f in (r[0] or [])), None)
    aspect = sample.shape[0] / sample.shape[1] if sample is not None else 0.6
    row_height = min(2.2, FULL_WIDTH / n * aspect) + 0.35
    enable_notebook_display()
    fig = Figure(figsize=(FULL_WIDTH, min(MAX_HEIGHT, row_height * len(rows) + (0.3 if title else 0.0))),
                 layout="constrained")
    for sub, (frames, times, label) in zip(np.atleast_1d(fig.subfigures(len(rows), 1)), rows):
        _frame_row(sub, frames, times, label)
    if title:
        fig.suptitle(title)
    return fig
