"""The alignment explorer: pick a video and a step, see its similarity over time, the ground
truth, each aligner's segment and the top-k alternatives; switch aligner and background live.

The notebook supplies the computation as a callback::

    def compute(video_uid, aligner, background, background_value) -> ExplorerData | dict

returning, for that video and setting, the fields of :class:`ExplorerData`. Results are
cached per ``(video_uid, aligner, background, background_value)``.

Interactive or static (``interactive=``): ``True`` builds ipywidgets; ``False`` draws one
static figure (first video, first few steps) and never touches ipywidgets. ``None`` (auto)
reads the environment variable ``VTKIT_INTERACTIVE`` (``0``/``1``) and otherwise chooses
widgets only inside an IPython kernel (Jupyter). A kernel cannot tell whether a person is
watching: papermill runs notebooks in an ordinary kernel and sets nothing the kernel can see.
So batch runs decide explicitly: the notebooks pass ``interactive=not batch`` (``batch`` is a
papermill parameter) and batch launchers export ``VTKIT_INTERACTIVE=0`` (the kernel inherits
the launcher's environment). Neither path blocks: widgets only react to later changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vtkit import plots
from vtkit.console import ENV_INTERACTIVE, running_interactively  # noqa: F401  (re-exported)
from vtkit.errors import VtkitError
from vtkit.timeline import DEFAULT_CHUNK_SECONDS

Span = tuple[int, int]

# slider (min, max, step, default) for background_value per background kind
VALUE_RANGES: dict[str, tuple[float, float, float, float]] = {
    "percentile": (0.0, 100.0, 1.0, 50.0),
    "constant": (-1.0, 1.0, 0.01, 0.0),
}


@dataclass
class ExplorerData:
    """What ``compute`` returns for one video and one aligner / background setting.

    ``S``: similarity [K steps, N chunks]; ``gt_spans``: K inclusive chunk spans (None: no
    ground truth); ``segments``: aligner name -> K spans (None: step skipped), at least the
    requested aligner; ``topk``: K ranked span lists (best first) of the requested aligner;
    ``step_labels``: K descriptions; column ``j`` of ``S`` is chunk ``first_chunk + j``.
    """

    S: np.ndarray
    gt_spans: list[Span | None]
    segments: dict[str, list[Span | None]]
    topk: list[list[Span]]
    step_labels: list[str]
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS
    first_chunk: int = 0

    def __post_init__(self):
        self.S = np.asarray(self.S, dtype=float)
        if self.S.ndim != 2:
            raise VtkitError(f"must be a [steps, chunks] matrix, got shape {self.S.shape}", field="S")
        k = self.S.shape[0]
        for name, values in [("gt_spans", self.gt_spans), ("topk", self.topk), ("step_labels", self.step_labels)] + \
                [(f"segments[{a!r}]", spans) for a, spans in self.segments.items()]:
            if len(values) != k:
                raise VtkitError(f"has {len(values)} entries for {k} steps", field=name)

    @classmethod
    def coerce(cls, value: "ExplorerData | Mapping[str, Any]") -> "ExplorerData":
        """Accept an ExplorerData or a dict with the same keys."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise VtkitError(f"compute must return ExplorerData or a dict, got {type(value).__name__}",
                             field="compute")
        missing = [f for f in ("S", "gt_spans", "segments", "topk", "step_labels") if f not in value]
        if missing:
            raise VtkitError(f"compute result lacks {', '.join(missing)}", field="compute")
        known = {f: value[f] for f in cls.__dataclass_fields__ if f in value}
        return cls(**known)


def _video_uid(video) -> str:
    return video if isinstance(video, str) else str(getattr(video, "video_uid"))


@dataclass
class ExplorerCache:
    """Calls ``compute`` once per (video, aligner, background, value) and keeps the result."""

    compute: Callable[[str, str, str, float], Any]
    results: dict[tuple[str, str, str, float], ExplorerData] = field(default_factory=dict)

    def get(self, video_uid: str, aligner: str, background: str, background_value: float) -> ExplorerData:
        key = (video_uid, aligner, background, round(float(background_value), 6))
        if key not in self.results:
            self.results[key] = ExplorerData.coerce(self.compute(*key))
        return self.results[key]

    def segments(self, video_uid: str, aligners: Sequence[str], background: str,
                 background_value: float) -> dict[str, list[Span | None]]:
        """Segments of every aligner in ``aligners``; one compute call covers all it returns."""
        out: dict[str, list[Span | None]] = {}
        for aligner in aligners:
            if aligner not in out:
                data = self.get(video_uid, aligner, background, background_value)
                out.update({a: s for a, s in data.segments.items() if a not in out})
        return {a: out[a] for a in aligners if a in out}


def _shown(aligner: str, compare: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([aligner, *compare]))


def step_figure(cache: ExplorerCache, video_uid: str, step: int, aligner: str, background: str,
                background_value: float, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5, ax=None) -> Figure:
    """:func:`vtkit.plots.plot_step_row` for one step of one video under one setting."""
    data = cache.get(video_uid, aligner, background, background_value)
    segments = cache.segments(video_uid, _shown(aligner, compare), background, background_value)
    label = plots.short_label(data.step_labels[step], 60)
    title = (f"{video_uid[:12]} · step {step + 1}/{len(data.step_labels)}: {label}\n"
             f"{aligner}, background {background}={background_value:g}")
    return plots.plot_step_row(data.S[step], data.gt_spans[step], {a: s[step] for a, s in segments.items()},
                               data.topk[step][:top_k], chunk_seconds=data.chunk_seconds, title=title,
                               first_chunk=data.first_chunk, ax=ax)


def static_figure(cache: ExplorerCache, video_uid: str, aligner: str, background: str, background_value: float,
                  steps: int = 3, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5) -> Figure:
    """The first ``steps`` steps of one video, one row each (the explorer's batch output)."""
    data = cache.get(video_uid, aligner, background, background_value)
    n = max(1, min(steps, data.S.shape[0]))
    fig, axes = plots.new_figure(n, 1, figsize=(11, 3.1 * n), squeeze=False)
    for k, ax in enumerate(axes.flat):
        step_figure(cache, video_uid, k, aligner, background, background_value, compare, top_k, ax=ax)
    return fig


class Explorer:
    """ipywidgets front end: video, step, aligner, background and value controls above a plot.

    Displaying the object shows the widgets; ``figure`` holds the latest drawn figure.
    """

    def __init__(self, videos: Sequence, cache: ExplorerCache, aligners: Sequence[str],
                 backgrounds: Sequence[str], background_value: float | None, compare: Sequence[str],
                 top_k: int, value_ranges: Mapping[str, tuple[float, float, float, float]]):
        import ipywidgets as w

        self.cache, self.compare, self.top_k = cache, tuple(compare), top_k
        self.value_ranges = {**VALUE_RANGES, **value_ranges}
        self.figure: Figure | None = None
        self.error: str | None = None
        self._quiet = False
        lo, hi, step, default = self._range(backgrounds[0])
        self.video = w.Dropdown(options=[_video_uid(v) for v in videos], description="video")
        self.step = w.Dropdown(options=[], description="step", layout=w.Layout(width="40em"))
        self.aligner = w.Dropdown(options=list(aligners), description="aligner")
        self.background = w.Dropdown(options=list(backgrounds), description="background")
        self.background_value = w.FloatSlider(value=default if background_value is None else background_value,
                                              min=lo, max=hi, step=step, description="value",
                                              continuous_update=False)
        self.output = w.Output()
        self.box = w.VBox([w.HBox([self.video, self.step]),
                           w.HBox([self.aligner, self.background, self.background_value]), self.output])
        self.video.observe(self._on_video, names="value")
        self.background.observe(self._on_background, names="value")
        for control in (self.step, self.aligner, self.background_value):
            control.observe(self._on_change, names="value")
        self._on_video()

    def _range(self, background: str) -> tuple[float, float, float, float]:
        return self.value_ranges.get(background, VALUE_RANGES["constant"])

    def settings(self) -> tuple[str, str, str, float]:
        return self.video.value, self.aligner.value, self.background.value, float(self.background_value.value)

    def _on_video(self, change=None):
        try:
            data = self.cache.get(*self.settings())
        except VtkitError as err:
            return self._show_error(err)
        self._quiet = True  # set the step list without one redraw per option change
        try:
            self.step.options = [(f"{k + 1}. {plots.short_label(lbl, 60)}", k) for k, lbl in enumerate(data.step_labels)]
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
        self.output.clear_output(wait=True)
        with self.output:
            print(f"cannot compute: {err}")

    def redraw(self):
        """Draw the current selection into the output area."""
        from IPython.display import display

        if self.step.value is None:
            return
        video, aligner, background, value = self.settings()
        try:
            fig = step_figure(self.cache, video, self.step.value, aligner, background, value, self.compare, self.top_k)
        except VtkitError as err:
            return self._show_error(err)
        self.error, self.figure = None, fig
        self.output.clear_output(wait=True)
        with self.output:
            display(fig)

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def explore(videos: Sequence, compute: Callable[[str, str, str, float], Any],
            aligners: Sequence[str] = ("dp", "dfs", "unordered"), backgrounds: Sequence[str] = ("percentile", "constant"),
            *, background_value: float | None = None, compare: Sequence[str] = ("dp", "dfs"), top_k: int = 5,
            interactive: bool | None = None, static_steps: int = 3, save_path: str | Path | None = None,
            value_ranges: Mapping[str, tuple[float, float, float, float]] | None = None) -> "Explorer | Figure":
    """Explore alignments video by video and step by step.

    ``videos``: video uids (or objects with ``video_uid``); ``compute``: see :class:`ExplorerData`;
    ``compare``: aligners whose segments are drawn beside the chosen one (each computed once);
    ``background_value``: starting slider value (default: the background's default).
    Interactive: returns an :class:`Explorer` (display it). Static: returns the figure of the
    first video's first ``static_steps`` steps under the first aligner and background, saved
    to ``save_path`` when given.
    """
    videos = list(videos)
    if not videos:
        raise VtkitError("no videos to explore", field="videos")
    if not aligners or not backgrounds:
        raise VtkitError("need at least one aligner and one background", field="aligners")
    cache = ExplorerCache(compute)
    if interactive is None:
        interactive = running_interactively()
    if interactive:
        return Explorer(videos, cache, aligners, backgrounds, background_value, compare, top_k, value_ranges or {})
    background = backgrounds[0]
    value = ({**VALUE_RANGES, **(value_ranges or {})}.get(background, VALUE_RANGES["constant"])[3]
             if background_value is None else background_value)
    fig = static_figure(cache, _video_uid(videos[0]), aligners[0], background, value, static_steps, compare, top_k)
    if save_path is not None:
        plots.save_figure(fig, save_path)
    return fig
