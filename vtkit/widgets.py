"""The alignment explorer: pick a video and a step, see its similarity over time, the ground
truth, each aligner's segment and the top-k alternatives; switch aligner and background live,
zoom to the step, and (when the raw video is known) see frames of the predicted and the true segment.

The notebook supplies the computation as a callback::

    def compute(video_uid, aligner, background, background_value) -> ExplorerData | dict

returning, for that video and setting, the fields of :class:`ExplorerData`. Results are
cached per ``(video_uid, aligner, background, background_value)``.

What a cell shows: the static figure (the first video's first steps under the first aligner and
background) always, as an ordinary image output, so every non-interactive execution (papermill,
nbconvert, ``jupyter execute``) and every viewer (exported HTML, GitHub) has the figure; in a
live kernel with ipywidgets the widget follows it. ``interactive=`` chooses: ``True`` adds the
widgets, ``False`` returns the static figure alone and never touches ipywidgets, ``None`` (auto)
reads ``VTKIT_INTERACTIVE`` (``0``/``1``) and otherwise adds widgets inside a Jupyter kernel
(:func:`vtkit.console.running_interactively`). Nothing blocks: widgets only react to later changes.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vtkit import plots
from vtkit.console import ENV_INTERACTIVE, running_interactively  # noqa: F401  (re-exported)
from vtkit.errors import VtkitError
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunks_to_seconds, frame_times

Span = tuple[int, int]

# slider (min, max, step, default) for background_value per background kind
VALUE_RANGES: dict[str, tuple[float, float, float, float]] = {
    "percentile": (0.0, 100.0, 1.0, 50.0),
    "constant": (-3.0, 3.0, 0.01, 0.0),     # raw cosines lie in [-1, 1]; query_norm="zscore" scores in std units
}
STATIC_CONTEXT = 30.0   # the static figure shows each step with this many seconds around it
# x axis choices: label -> seconds of context around the step (None: the whole video)
ZOOMS: dict[str, float | None] = {"whole video": None, "step ± 10 s": 10.0, "step ± 30 s": 30.0,
                                  "step ± 2 min": 120.0}
FRAME_COUNT = 6      # frames per strip


@dataclass
class ExplorerData:
    """What ``compute`` returns for one video and one aligner / background setting.

    ``S``: similarity [K steps, N chunks]; ``gt_spans``: K inclusive chunk spans (None: no
    ground truth); ``segments``: aligner name -> K spans (None: step skipped), at least the
    requested aligner; ``topk``: K ranked span lists (best first) of the requested aligner;
    ``step_labels``: K descriptions; column ``j`` of ``S`` is chunk ``first_chunk + j``;
    ``fallbacks``: the aligners whose answer is the DP's, standing in for a DFS over its node
    budget (the dict key ``fallback`` may give ``{aligner: bool}``, or a bool for the requested one).
    """

    S: np.ndarray
    gt_spans: list[Span | None]
    segments: dict[str, list[Span | None]]
    topk: list[list[Span]]
    step_labels: list[str]
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS
    first_chunk: int = 0
    fallbacks: set[str] = field(default_factory=set)

    def __post_init__(self):
        self.S = np.asarray(self.S, dtype=float)
        if self.S.ndim != 2:
            raise VtkitError(f"must be a [steps, chunks] matrix, got shape {self.S.shape}", field="S")
        k = self.S.shape[0]
        for name, values in [("gt_spans", self.gt_spans), ("topk", self.topk), ("step_labels", self.step_labels)] + \
                [(f"segments[{a!r}]", spans) for a, spans in self.segments.items()]:
            if len(values) != k:
                raise VtkitError(f"has {len(values)} entries for {k} steps", field=name)
        self.fallbacks = set(self.fallbacks)

    @classmethod
    def coerce(cls, value: "ExplorerData | Mapping[str, Any]", aligner: str | None = None) -> "ExplorerData":
        """Accept an ExplorerData or a dict with the same keys (``aligner``: the requested one, for
        a bool ``fallback``)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise VtkitError(f"compute must return ExplorerData or a dict, got {type(value).__name__}",
                             field="compute")
        missing = [f for f in ("S", "gt_spans", "segments", "topk", "step_labels") if f not in value]
        if missing:
            raise VtkitError(f"compute result lacks {', '.join(missing)}", field="compute")
        known = {f: value[f] for f in cls.__dataclass_fields__ if f in value}
        known["fallbacks"] = set(value.get("fallbacks", ())) | _fallback_names(value.get("fallback"), aligner)
        return cls(**known)


def _fallback_names(flag, aligner: str | None) -> set[str]:
    """``{aligner: bool}`` or a bool for ``aligner`` -> the names that fell back."""
    if isinstance(flag, Mapping):
        return {name for name, fell in flag.items() if fell}
    if flag and aligner is not None:
        return {aligner}
    return set()


def _video_uid(video) -> str:
    return video if isinstance(video, str) else str(getattr(video, "video_uid"))


def video_option(video) -> tuple[str, str]:
    """``(label, uid)`` for the video list: ``"<short uid> (<goal>, N steps)"`` when the video object
    says so, else the uid."""
    uid = _video_uid(video)
    goal, steps = getattr(video, "goal_description", None), getattr(video, "steps", None)
    details = [plots.short_label(goal, 50)] if goal else []
    if steps is not None:
        details.append(f"{len(steps)} steps")
    return (f"{plots.short_uid(uid)} ({', '.join(details)})" if details else uid), uid


@dataclass
class ExplorerCache:
    """Calls ``compute`` once per (video, aligner, background, value) and keeps the result."""

    compute: Callable[[str, str, str, float], Any]
    results: dict[tuple[str, str, str, float], ExplorerData] = field(default_factory=dict)

    def get(self, video_uid: str, aligner: str, background: str, background_value: float) -> ExplorerData:
        key = (video_uid, aligner, background, round(float(background_value), 6))
        if key not in self.results:
            self.results[key] = ExplorerData.coerce(self.compute(*key), aligner)
        return self.results[key]

    def shown(self, video_uid: str, aligners: Sequence[str], background: str,
              background_value: float) -> tuple[dict[str, list[Span | None]], set[str]]:
        """Segments of every aligner in ``aligners`` and those that fell back; one compute call
        covers all the aligners it returns."""
        out: dict[str, list[Span | None]] = {}
        fallbacks: set[str] = set()
        for aligner in aligners:
            if aligner not in out:
                data = self.get(video_uid, aligner, background, background_value)
                for a, spans in data.segments.items():
                    if a not in out:
                        out[a] = spans
                        fallbacks |= {a} & data.fallbacks
        return {a: out[a] for a in aligners if a in out}, {a for a in fallbacks if a in aligners}


def _shown(aligner: str, compare: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([aligner, *compare]))


def focus_window(windows: Sequence[tuple[float, float] | None], context: float | None,
                 bounds: tuple[float, float]) -> tuple[float, float]:
    """Seconds to show: the union of ``windows`` widened by ``context`` on each side, inside ``bounds``;
    ``bounds`` itself when ``context`` is None or there is no window."""
    windows = [w for w in windows if w is not None]
    if context is None or not windows:
        return bounds
    t0 = max(bounds[0], min(w[0] for w in windows) - context)
    t1 = min(bounds[1], max(w[1] for w in windows) + context)
    return (t0, t1) if t1 > t0 else bounds


def step_figure(cache: ExplorerCache, video_uid: str, step: int, aligner: str, background: str,
                background_value: float, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5, ax=None,
                context: float | None = None) -> Figure:
    """:func:`vtkit.plots.plot_step_row` for one step of one video under one setting; ``context``:
    seconds around the step's segments to show (None: the whole video)."""
    data = cache.get(video_uid, aligner, background, background_value)
    segments, fallbacks = cache.shown(video_uid, _shown(aligner, compare), background, background_value)
    label = plots.short_label(data.step_labels[step], 60)
    title = (f"{plots.short_uid(video_uid)} · step {step + 1}/{len(data.step_labels)}: {label}\n"
             f"{aligner}, background {background}={background_value:g}")
    step_segments = {a: s[step] for a, s in segments.items()}
    cs, first = data.chunk_seconds, data.first_chunk
    bounds = chunks_to_seconds(first, first + data.S.shape[1] - 1, cs)
    windows = [chunks_to_seconds(s[0], s[1], cs) if s is not None else None
               for s in [data.gt_spans[step], *step_segments.values()]]
    return plots.plot_step_row(data.S[step], data.gt_spans[step], step_segments, data.topk[step][:top_k],
                               chunk_seconds=cs, title=title, first_chunk=first, ax=ax,
                               xlim=focus_window(windows, context, bounds), fallbacks=fallbacks)


@plots.styled
def static_figure(cache: ExplorerCache, video_uid: str, aligner: str, background: str, background_value: float,
                  steps: int = 3, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5,
                  context: float | None = None) -> Figure:
    """The first ``steps`` steps of one video, one row each (what the explorer shows as an image)."""
    data = cache.get(video_uid, aligner, background, background_value)
    n = max(1, min(steps, data.S.shape[0]))
    lanes = 0.13 * (1 + len(_shown(aligner, compare)) + top_k)
    fig, axes = plots.new_figure(2 * n, 1, figsize=(plots.FULL_WIDTH, n * (1.75 + lanes)),
                                 height_ratios=[1.2, lanes] * n, squeeze=False)
    for k in range(n):
        step_figure(cache, video_uid, k, aligner, background, background_value, compare, top_k,
                    ax=(axes[2 * k, 0], axes[2 * k + 1, 0]), context=context)
    return fig


def frame_strip(frames: Callable, video_uid: str, pred_span: Span | None, gt_span: Span | None,
                chunk_seconds: float, n: int = FRAME_COUNT, title: str | None = None) -> Figure:
    """:func:`vtkit.plots.plot_frame_strip` of the predicted and the true segment of one step;
    ``frames(video_uid, t0, t1, n)`` returns ``n`` decoded frames at :func:`frame_times`."""
    rows = []
    for name, span in (("prediction", pred_span), ("ground truth", gt_span)):
        if span is None:
            rows.append(([], None, f"{name}: none"))
            continue
        t0, t1 = chunks_to_seconds(span[0], span[1], chunk_seconds)
        rows.append((list(frames(video_uid, t0, t1, n)), frame_times(t0, t1, n), f"{name}: {t0:.1f}–{t1:.1f} s"))
    (pred, pred_t, pred_label), (gt, gt_t, gt_label) = rows
    return plots.plot_frame_strip(pred, gt, pred_t, gt_t, labels=(pred_label, gt_label), title=title)


class Explorer:
    """ipywidgets front end: video, step, aligner, background, value and zoom controls above a plot.

    Displaying the object shows the static figure (``static``) as an image, then the widgets;
    ``figure`` holds the latest drawn step figure, ``strip`` the latest frame strip.
    """

    def __init__(self, videos: Sequence, cache: ExplorerCache, aligners: Sequence[str],
                 backgrounds: Sequence[str], background_value: float | None, compare: Sequence[str],
                 top_k: int, value_ranges: Mapping[str, tuple[float, float, float, float]],
                 frames: Callable | None = None, frame_count: int = FRAME_COUNT, static: Figure | None = None):
        import ipywidgets as w

        self.cache, self.compare, self.top_k = cache, tuple(compare), top_k
        self.frames, self.frame_count, self.static = frames, frame_count, static
        self.value_ranges = {**VALUE_RANGES, **value_ranges}
        self.figure: Figure | None = None
        self.strip: Figure | None = None
        self.error: str | None = None
        self._quiet = False
        lo, hi, step, default = self._range(backgrounds[0])
        self.video = w.Dropdown(options=[video_option(v) for v in videos], description="video",
                                layout=w.Layout(width="36em"))
        self.step = w.Dropdown(options=[], description="step", layout=w.Layout(width="40em"))
        self.aligner = w.Dropdown(options=list(aligners), description="aligner")
        self.background = w.Dropdown(options=list(backgrounds), description="background")
        self.background_value = w.FloatSlider(value=default if background_value is None else background_value,
                                              min=lo, max=hi, step=step, description="value",
                                              continuous_update=False)
        self.zoom = w.Dropdown(options=list(ZOOMS.items()), value=None, description="x axis")
        self.status = w.HTML()
        self.output = w.Output()
        self.controls = (self.video, self.step, self.aligner, self.background, self.background_value, self.zoom)
        self.box = w.VBox([w.HBox([self.video, self.step]),
                           w.HBox([self.aligner, self.background, self.background_value, self.zoom]),
                           self.status, self.output])
        self.video.observe(self._on_video, names="value")
        self.background.observe(self._on_background, names="value")
        for control in (self.step, self.aligner, self.background_value, self.zoom):
            control.observe(self._on_change, names="value")
        self._on_video()

    def _range(self, background: str) -> tuple[float, float, float, float]:
        return self.value_ranges.get(background, VALUE_RANGES["constant"])

    def settings(self) -> tuple[str, str, str, float]:
        return self.video.value, self.aligner.value, self.background.value, float(self.background_value.value)

    @contextmanager
    def _busy(self):
        """Controls disabled and "computing…" shown while a redraw computes (it can take seconds)."""
        self.status.value = "<i>computing…</i>"
        for control in self.controls:
            control.disabled = True
        try:
            yield
        finally:
            for control in self.controls:
                control.disabled = False

    def _on_video(self, change=None):
        try:
            with self._busy():
                data = self.cache.get(*self.settings())
        except VtkitError as err:
            return self._show_error(err)
        self._quiet = True  # set the step list without one redraw per option change
        try:
            self.step.options = [(f"{k + 1}. {plots.short_label(lbl, 60)}", k)
                                 for k, lbl in enumerate(data.step_labels)]
            self.step.value = 0 if data.step_labels else None
        finally:
            self._quiet = False
        self.redraw()

    def _on_background(self, change):
        lo, hi, step, default = self._range(change["new"])
        self._quiet = True
        try:  # widen first so the old value never falls outside the new bounds
            self.background_value.min, self.background_value.max = min(lo, self.background_value.min), \
                max(hi, self.background_value.max)
            self.background_value.value = default
            self.background_value.min, self.background_value.max, self.background_value.step = lo, hi, step
        finally:
            self._quiet = False
        self.redraw()

    def _on_change(self, change=None):
        if not self._quiet:
            self.redraw()

    def _show_error(self, err: Exception):
        self.error = str(err)
        self.status.value = ""
        self.output.clear_output(wait=True)
        with self.output:
            print(f"cannot compute: {err}")

    def redraw(self):
        """Draw the current selection (and its frame strip) into the output area."""
        from IPython.display import display

        if self.step.value is None:
            return
        video, aligner, background, value = self.settings()
        k = self.step.value
        try:
            with self._busy():
                fig = step_figure(self.cache, video, k, aligner, background, value, self.compare, self.top_k,
                                  context=self.zoom.value)
                data = self.cache.get(video, aligner, background, value)
                _, fallbacks = self.cache.shown(video, _shown(aligner, self.compare), background, value)
                strip = None if self.frames is None else frame_strip(
                    self.frames, video, data.segments[aligner][k], data.gt_spans[k], data.chunk_seconds,
                    self.frame_count, title=f"step {k + 1}: {plots.short_label(data.step_labels[k], 60)}")
        except VtkitError as err:
            return self._show_error(err)
        self.error, self.figure, self.strip = None, fig, strip
        note = f" · <b>{', '.join(sorted(fallbacks))}: DP fallback</b> (node budget exceeded)" if fallbacks else ""
        self.status.value = f"{video} · {len(data.step_labels)} steps{note}"
        self.output.clear_output(wait=True)
        with self.output:
            display(fig)
            if strip is not None:
                display(strip)

    def _ipython_display_(self):
        from IPython.display import display

        if self.static is not None:
            display(self.static)
        display(self.box)


def explore(videos: Sequence, compute: "Callable[[str, str, str, float], Any] | ExplorerCache",
            aligners: Sequence[str] | None = None, backgrounds: Sequence[str] = ("percentile", "constant"),
            *, background_value: float | None = None, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5,
            interactive: bool | None = None, static_steps: int = 3, save_path: str | Path | None = None,
            value_ranges: Mapping[str, tuple[float, float, float, float]] | None = None,
            frames: Callable[[str, float, float, int], Sequence[np.ndarray]] | None = None,
            frame_count: int = FRAME_COUNT) -> "Explorer | Figure":
    """Explore alignments video by video and step by step.

    ``videos``: Video objects (the list then shows each goal and step count) or video uids;
    ``compute``: see :class:`ExplorerData` (or an :class:`ExplorerCache`, whose results are reused);
    ``aligners``: the choices (default: the report's
    aligners); ``compare``: aligners whose segments are drawn beside the chosen one (each
    computed once); ``background_value``: starting slider value (default: the background's
    default); ``frames``: optional ``frames(video_uid, t0, t1, n)`` returning ``n`` decoded
    frames (``H x W x 3``) at :func:`frame_times`, for a strip of the predicted and the true segment.
    The static figure (the first video's first ``static_steps`` steps under the first aligner and
    background) is saved to ``save_path`` when given. Interactive: returns an :class:`Explorer`
    (displaying it shows that figure, then the widgets). Static: returns the figure.
    """
    videos = list(videos)
    if not videos:
        raise VtkitError("no videos to explore", field="videos")
    aligners = tuple(aligners) if aligners is not None else plots.report_aligners()
    if not aligners or not backgrounds:
        raise VtkitError("need at least one aligner and one background", field="aligners")
    cache = compute if isinstance(compute, ExplorerCache) else ExplorerCache(compute)
    if interactive is None:
        interactive = running_interactively()
    background = backgrounds[0]
    value = ({**VALUE_RANGES, **(value_ranges or {})}.get(background, VALUE_RANGES["constant"])[3]
             if background_value is None else background_value)

    def draw_static() -> Figure:
        fig = static_figure(cache, _video_uid(videos[0]), aligners[0], background, value, static_steps, compare,
                            top_k, context=STATIC_CONTEXT)
        if save_path is not None:
            plots.save_figure(fig, save_path)
        return fig

    if not interactive:
        return draw_static()
    try:
        static = draw_static()
    except VtkitError:
        static = None     # the widget shows the error
    return Explorer(videos, cache, aligners, backgrounds, background_value, compare, top_k, value_ranges or {},
                    frames=frames, frame_count=frame_count, static=static)
