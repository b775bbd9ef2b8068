"""Every public figure, rendered: a page-sized PNG, every text on the canvas, no legend over data."""
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import Collection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from PIL import Image  # noqa: E402

from vtkit import plots, widgets  # noqa: E402

RNG = np.random.default_rng(0)
K, N = 8, 200
GT = [(5 + 20 * k, 15 + 20 * k) for k in range(K)]
DP = [(4 + 20 * k, 16 + 20 * k) for k in range(K)]
DFS = [(6 + 20 * k, 14 + 20 * k) for k in range(K)]
LABELS = [f"do the thing number {k} with the long utensil" for k in range(K)]
UID = "c2d06df7-5d3a-4116-9edb-f1c81a4f669b"


def _S(k=K, n=N):
    return RNG.normal(0, 0.1, (k, n))


def _history():
    return [{"epoch": e, "train_loss": 2.0 / (e + 1) if e else float("nan"), "heldout_loss": 2.5 / (e + 1),
             "heldout_t2v_R1": min(0.05 + 0.1 * e, 0.6), "heldout_R1@0.3": min(0.1 * e, 0.75), "lr": 1e-3 / (e + 1)}
            for e in range(9)]


def _curves():
    thr = np.linspace(0.05, 0.95, 19)
    same = {"thresholds": thr, "R1": 0.8 * (1 - thr), "R5": 0.9 * (1 - thr ** 2)}
    return {"dp": same, "dfs": same, "unordered": {"thresholds": thr, "R1": 0.4 * (1 - thr), "R5": 0.5 * (1 - thr)},
            "dropdtw": same}


def _table():
    m = {"R1@0.3": 0.578, "R1@0.5": 0.456, "R5@0.3": 0.711, "R5@0.5": 0.556, "mIoU": 0.427}
    return {"dp": m, "dfs": m, "unordered": {k: v / 4 for k, v in m.items()}, "dropdtw": m,
            "untrained dp": {k: 0.0 for k in m}}


def _video(i):
    steps = [(10.0 * j + i, 10.0 * j + i + (1 if j % 3 else 9), f"step {j}") for j in range(14)]
    return {"title": plots.video_title(f"grp-{i:08d}-aaaa-bbbb", "make a green salad with a long name"),
            "steps": steps, "substeps": steps[::2], "goal": (0.0, 150.0 + i)}


def _frames(n):
    return [RNG.integers(0, 255, (54, 96, 3), dtype=np.uint8) for _ in range(n)]


class _Compute:
    def __call__(self, video_uid, aligner, background, value):
        return {"S": _S(3, 60), "gt_spans": [(5, 9), (12, 20), None],
                "segments": {aligner: [(4, 9), (12, 19), (30, 33)]},
                "topk": [[(4, 9), (2, 3), (40, 44), (50, 51), (55, 59)]] * 3, "step_labels": LABELS[:3],
                "fallback": {aligner: aligner == "dfs"}}


FIGURES = {
    "plot_step_timeline": lambda: plots.plot_step_timeline(_video(0)["steps"], goal=(0, 150),
                                                           substeps=_video(0)["steps"][::2],
                                                           title=plots.video_title(UID, "make tea")),
    "plot_timelines": lambda: plots.plot_timelines([_video(i) for i in range(4)]),
    "plot_duration_histograms": lambda: plots.plot_duration_histograms(RNG.exponential(40, 300),
                                                                       RNG.exponential(8, 400)),
    "plot_coverage_histogram": lambda: plots.plot_coverage_histogram(RNG.uniform(0.5, 1.0, 50)),
    "plot_description_stats": lambda: plots.plot_description_stats(
        [f"{w} the onion into small pieces" for w in ("chop", "cut", "slice")] * 5 + ["stir"] * 3),
    "plot_training_curves": lambda: plots.plot_training_curves(_history()),
    "plot_similarity_heatmap": lambda: plots.plot_similarity_heatmap(
        _S(), GT, {"dp": DP, "dfs": DFS, "dropdtw": DP}, LABELS, title=plots.video_title(UID, "make pancakes"),
        fallbacks=["dfs"]),
    "plot_similarity_distributions": lambda: plots.plot_similarity_distributions(RNG.normal(0.3, 0.1, 500),
                                                                                 RNG.normal(0, 0.1, 5000)),
    "plot_trained_vs_untrained": lambda: plots.plot_trained_vs_untrained(
        RNG.normal(0, 0.1, 500), RNG.normal(0, 0.1, 5000), RNG.normal(0.3, 0.1, 500), RNG.normal(0, 0.1, 5000)),
    "plot_recall_curves": lambda: plots.plot_recall_curves(_curves()),
    "plot_metric_bars": lambda: plots.plot_metric_bars(_table()),
    "plot_level_breakdown": lambda: plots.plot_level_breakdown(
        {a: {"step": t, "substep": {k: v / 2 for k, v in t.items()}} for a, t in _table().items()}),
    "plot_duration_breakdown": lambda: plots.plot_duration_breakdown(
        {"step": {"<2 s": {"R1@0.3": 0.5, "queries": 12}, "2-4 s": {"R1@0.3": 0.7, "queries": 40},
                  ">=32 s": {"R1@0.3": 0.9, "queries": 300}},
         "substep": {"<2 s": {"R1@0.3": 0.3, "queries": 90}, "2-4 s": {"R1@0.3": 0.6, "queries": 120},
                     ">=32 s": {"R1@0.3": 0.7, "queries": 80}}}),
    "plot_step_row": lambda: plots.plot_step_row(_S(1)[0], GT[2], {"dp": DP[2], "dfs": DFS[2]},
                                                 [DP[2], (0, 3), (80, 90)],
                                                 title=f"{plots.short_uid(UID)} · step 3/8: {LABELS[2]}",
                                                 fallbacks=["dfs"]),
    "plot_overview": lambda: plots.plot_overview(_S(), GT, DP, LABELS),
    "plot_frame_strip": lambda: plots.plot_frame_strip(_frames(6), _frames(6), np.arange(6) * 2.0,
                                                       np.arange(6) * 3.0,
                                                       labels=("prediction: 10.0–22.0 s",
                                                               "ground truth: 12.0–30.0 s"),
                                                       title="step 3: pour milk into the bowl"),
}
EXTRA = {
    "heatmap of 178 steps": lambda: plots.plot_similarity_heatmap(_S(178, 900),
                                                                  step_labels=[f"step {k}" for k in range(178)]),
    "untrained vs trained bars": lambda: plots.plot_metric_bars(
        {"untrained": {"heldout_t2v_R1": 0.04, "heldout_R1@0.3": 0.0},
         "trained": {"heldout_t2v_R1": 0.52, "heldout_R1@0.3": 0.77}},
        title="Validation: untrained vs trained"),
    "explorer static figure": lambda: widgets.explore(["vid"], _Compute(), interactive=False),
}


def test_every_public_figure_function_is_rendered_here():
    assert {name for name in dir(plots) if name.startswith("plot_")} == set(FIGURES)


def _undrawn_tick_labels(fig):
    """Labels of ticks outside the view interval: matplotlib keeps them but does not draw them."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) or 1.0
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                loc = tick.get_loc()
                if loc is None or not lo - 1e-9 * span <= loc <= hi + 1e-9 * span:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return hidden


def _visible_texts(fig):
    hidden = _undrawn_tick_labels(fig)
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or getattr(text, "drawn", True) is False:
            continue
        if id(text) in hidden:
            continue
        if any(not a.get_visible() for a in _ancestors(text)):
            continue
        if text.get_clip_on() and text.get_clip_box() is not None:
            box = text.get_window_extent()
            if not box.overlaps(text.get_clip_box()):        # clipped away: not drawn
                continue
        yield text


def _ancestors(artist):
    axes = getattr(artist, "axes", None)
    return [axes] if axes is not None else []


def _data_extents(ax):
    """Window extents of the axes' data artists, clipped to the axes (what is drawn of them)."""
    for artist in [*ax.lines, *ax.images, *ax.patches, *ax.collections]:
        if not artist.get_visible() or isinstance(artist, Legend):
            continue
        if isinstance(artist, (Line2D, Patch, AxesImage, Collection)):
            box = artist.get_window_extent()
            if box.width <= 0 and box.height <= 0:
                continue
            clipped = Bbox.intersection(box, ax.bbox) if artist.get_clip_on() else box
            if clipped is not None:
                yield artist, clipped


def _shrunk(box, px=1.0):
    return Bbox.from_extents(box.x0 + px, box.y0 + px, box.x1 - px, box.y1 - px)


def layout_problems(fig) -> list[str]:
    """Texts that leave the canvas or are too small to read in print, and legends over data."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    problems = []
    canvas = _shrunk(fig.bbox, -1.0)            # a pixel of rounding
    for text in _visible_texts(fig):
        box = text.get_window_extent()
        if not (canvas.containsx(box.x0) and canvas.containsx(box.x1) and canvas.containsy(box.y0)
                and canvas.containsy(box.y1)):
            problems.append(f"text {text.get_text()!r} leaves the canvas")
        if text.get_fontsize() < 5.5:
            problems.append(f"text {text.get_text()!r} is too small to read in print")
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for legend in legends:
        box = _shrunk(legend.get_window_extent())
        for ax in fig.axes:
            problems += [f"the legend covers {artist} in {ax.get_title()!r}"
                         for artist, extent in _data_extents(ax) if box.overlaps(extent)]
    return problems


def test_layout_check_catches_a_covering_legend_and_a_cut_label():
    fig, ax = plots.new_figure(figsize=(plots.HALF_WIDTH, 2.0))
    ax.plot([0, 1], [0, 1], label="data")
    ax.legend(loc="center")
    ax.text(1.2, 0.5, "far outside the figure", transform=ax.transAxes)
    problems = layout_problems(fig)
    assert any("legend covers" in p for p in problems) and any("leaves the canvas" in p for p in problems)


@pytest.mark.parametrize("name", [*FIGURES, *EXTRA])
def test_figure_renders_within_the_page_with_nothing_cut_or_covered(name):
    fig = (FIGURES | EXTRA)[name]()
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=plots.DPI)
    width, height = Image.open(buffer).size
    assert width in (round(plots.FULL_WIDTH * plots.DPI), round(plots.HALF_WIDTH * plots.DPI)), name
    assert 0.8 * plots.DPI <= height <= plots.MAX_HEIGHT * plots.DPI, name
    assert layout_problems(fig) == [], name
