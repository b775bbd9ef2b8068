"""Figures: built from small synthetic data, checked artist by artist against the inputs."""
import csv
import string
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vtkit import plots  # noqa: E402
from vtkit.errors import VtkitError  # noqa: E402


K, N, CS = 4, 30, 2.0
GT = [(2, 5), (6, 9), None, (20, 27)]
DP = [(1, 5), (7, 10), (12, 14), (20, 25)]
DFS = [(2, 4), None, (11, 15), (21, 28)]


@pytest.fixture
def S():
    rng = np.random.default_rng(0)
    S = rng.normal(0, 0.1, (K, N))
    for k, span in enumerate(GT):
        if span:
            S[k, span[0]:span[1] + 1] += 1.0
    return S


def lines(ax, gid):
    return [ln for ln in ax.lines if ln.get_gid() == gid]


def legend_texts(fig):
    """Every legend entry of the figure (figure legends and axes legends)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def bar_count(ax):
    return sum(len(c.get_paths()) for c in ax.collections if isinstance(c, PolyCollection))  # broken_barh bars


def drawn_bar_labels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return [t.get_text() for ax in fig.axes for t in ax.texts if isinstance(t, plots.BarLabel) and t.drawn]


def test_heatmap_draws_one_box_per_gt_span_and_one_line_per_aligned_step(S):
    fig = plots.plot_similarity_heatmap(S, GT, {"dp": DP, "dfs": DFS}, [f"step {k}" for k in range(K)],
                                        chunk_seconds=CS)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == "gt"]
    assert len(boxes) == 3
    # span (6, 9) of step 1 covers [12 s, 20 s): box from x=12, width 8, rows 0.5..1.5
    assert (boxes[1].get_x(), boxes[1].get_width(), boxes[1].get_y(), boxes[1].get_height()) == (12.0, 8.0, 0.5, 1.0)
    assert len(lines(ax, "segment:dp")) == 4 and len(lines(ax, "segment:dfs")) == 3
    np.testing.assert_allclose(lines(ax, "segment:dfs")[2].get_xdata(), [42.0, 58.0])   # (21, 28) -> [42, 58]
    assert ax.images[0].get_extent() == [0.0, N * CS, K - 0.5, -0.5]
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "1. step 0"
    assert set(legend_texts(fig)) == {"ground truth", "dp", "dfs"}
    assert ax.get_legend() is None and len(fig.legends) == 1       # outside the matrix, under the figure
    assert ax.get_xlabel() == "time (seconds)"
    # each aligner keeps its colour and marker whatever else is drawn
    dp_line = lines(ax, "segment:dp")[0]
    assert dp_line.get_color() == plots.ALIGNER_STYLES["dp"].color and dp_line.get_marker() == "o"
    assert lines(ax, "segment:dfs")[0].get_marker() == plots.ALIGNER_STYLES["dfs"].marker


def test_heatmap_merges_identical_aligners_and_marks_fallbacks(S):
    fig = plots.plot_similarity_heatmap(S, GT, {"dp": DP, "dfs": list(DP), "dropdtw": list(DP), "unordered": DFS},
                                        fallbacks=["dfs"])
    ax = fig.axes[0]
    assert legend_texts(fig) == ["ground truth", "dp = dfs (DP fallback) = dropdtw", "unordered"]
    assert len(lines(ax, "segment:dp=dfs=dropdtw")) == 4 and not lines(ax, "segment:dfs")
    rows = {ln.get_ydata()[0] for ln in lines(ax, "segment:dp=dfs=dropdtw")}
    assert rows.isdisjoint({ln.get_ydata()[0] for ln in lines(ax, "segment:unordered")})   # side by side
    fig = plots.plot_similarity_heatmap(S, GT, {"dp": DP, "dfs": DFS}, fallbacks=["dfs"])
    assert "dfs (DP fallback)" in legend_texts(fig)


def test_heatmap_first_chunk_shifts_time_axis_and_checks_lengths(S):
    fig = plots.plot_similarity_heatmap(S, [(12, 13)] + [None] * 3, {}, None, chunk_seconds=1.0, first_chunk=10,
                                        max_label_len=5)
    ax = fig.axes[0]
    assert ax.images[0].get_extent()[:2] == [10.0, 40.0]
    assert [p.get_x() for p in ax.patches if p.get_gid() == "gt"] == [12.0]
    with pytest.raises(VtkitError, match="3 spans for 4 steps"):
        plots.plot_similarity_heatmap(S, GT[:3])
    with pytest.raises(VtkitError):
        plots.plot_similarity_heatmap(np.zeros(5))


def test_heatmap_with_many_steps_labels_every_nth_row_and_fits_a_page():
    K_big = 178                                   # the largest real val video
    fig = plots.plot_similarity_heatmap(np.zeros((K_big, 50)), step_labels=[f"s{k}" for k in range(K_big)])
    ticks = fig.axes[0].get_yticks()
    assert 1 < len(ticks) < K_big and ticks[0] == 0 and np.all(np.diff(ticks) == ticks[1] - ticks[0])
    assert fig.get_figheight() <= plots.MAX_HEIGHT


def test_short_label():
    assert plots.short_label("cut   the\nonion", 30) == "cut the onion"
    assert plots.short_label("abcdefghij", 5) == "abcd…"


def test_short_uid_one_rule():
    assert plots.short_uid("c2d06df7-5d3a-4116-9edb-f1c81a4f669b") == "c2d06df7…"
    assert plots.short_uid("grp-88bae242-7f3a-45d4-b129-5d69b1a1e15a") == "grp-88bae242…"
    assert plots.short_uid("vid_a") == "vid_a" and plots.short_uid("grp-12345678") == "grp-12345678"
    assert plots.video_title("c2d06df7-5d3a-4116-9edb-f1c81a4f669b", "make  tea") == "c2d06df7…: make tea"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + string.digits + "-", max_size=45))
def test_short_uid_is_a_prefix_and_short(uid):
    short = plots.short_uid(uid)
    if short == uid:
        assert len(uid.removeprefix("grp-")) <= plots.UID_CHARS
    else:
        assert short.endswith("…") and uid.startswith(short[:-1])
        assert len(short) == plots.UID_CHARS + 1 + (4 if uid.startswith("grp-") else 0)


def test_short_uids_of_the_real_val_split_stay_unique(goalstep_valid):
    import json

    uids = [v["video_uid"] for v in json.loads(goalstep_valid.read_text())["videos"]]
    assert len({plots.short_uid(u) for u in uids}) == len(uids) == 134


def test_aligner_styles_are_fixed_and_colour_blind_safe():
    a = plots.aligner_colors(["dfs", "dp"])
    b = plots.aligner_colors(["unordered", "dropdtw", "dp", "dfs", "mine"])
    assert a["dp"] == b["dp"] == plots.OKABE_ITO["blue"] and a["dfs"] == b["dfs"]
    assert plots.aligner_style("DP") == plots.ALIGNER_STYLES["dp"]          # the overview's "DP" too
    styles = [plots.aligner_style(n) for n in ("dp", "dfs", "dropdtw", "unordered")]
    assert len({s.color for s in styles}) == len({s.marker for s in styles}) == 4
    assert {s.color for s in styles} <= set(plots.OKABE_ITO.values())
    assert len({str(s.linestyle) for s in styles}) == 4
    assert b["mine"] not in {b[n] for n in ("dp", "dfs", "dropdtw", "unordered")}


def test_separation_matches_brute_force_auc_with_ties():
    rng = np.random.default_rng(1)
    pos = rng.integers(0, 6, 40).astype(float)
    neg = rng.integers(0, 5, 70).astype(float)
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    sep = plots.separation(pos, neg)
    assert sep["auc"] == pytest.approx(expected)
    assert sep["mean_gap"] == pytest.approx(pos.mean() - neg.mean())
    assert plots.separation([1.0, 2.0], [0.0])["auc"] == 1.0


def test_similarity_distributions_and_trained_vs_untrained():
    pos, neg = np.array([0.5, 0.6, 0.7]), np.array([0.1, 0.2, 0.55])
    fig = plots.plot_similarity_distributions(pos, neg)
    sep = plots.separation(pos, neg)
    title = fig.axes[0].get_title()
    assert f"AUC {sep['auc']:.3f}" in title and f"gap {sep['mean_gap']:.3f}" in title and "n 3 / 3" in title
    assert legend_texts(fig) == ["positive", "negative"]
    fig = plots.plot_trained_vs_untrained(pos, neg, pos + 0.3, neg)
    assert len(fig.axes) == 2
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["Untrained (backbone only)", "Trained"]
    assert legend_texts(fig) == ["positive", "negative"] and len(fig.legends) == 1


def test_recall_curves_accepts_both_forms_in_percent():
    thr = np.array([0.1, 0.3, 0.5])
    curves = {"dp": {1: (thr, [0.9, 0.5, 0.2]), 5: (thr, [1.0, 0.8, 0.5])},
              "dfs": {"thresholds": thr, "R1": np.array([0.8, 0.4, 0.1]), "R5": np.array([0.9, 0.7, 0.4])}}
    fig = plots.plot_recall_curves(curves)
    assert [ax.get_ylabel() for ax in fig.axes] == ["R@1 (%)", "R@5 (%)"]
    for ax in fig.axes:
        assert [ln.get_label() for ln in ax.lines] == ["dp", "dfs"]
        assert ax.lines[0].get_linestyle() != ax.lines[1].get_linestyle()
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [90.0, 70.0, 40.0])
    assert fig.axes[1].get_ylim()[1] >= 100.0          # nothing cut off at the top


def test_recall_curves_merge_identical_aligners():
    thr = [0.1, 0.5]
    same = {1: (thr, [0.5, 0.2])}
    fig = plots.plot_recall_curves({"dp": same, "dfs": same, "unordered": {1: (thr, [0.3, 0.1])}, "dropdtw": same})
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["dp = dfs = dropdtw", "unordered"]
    assert legend_texts(fig) == ["dp = dfs = dropdtw", "unordered"]


def test_metric_bars_and_level_breakdown_heights_in_percent():
    table = {"dp": {"R1@0.3": 0.4, "mIoU": 0.3}, "dfs": {"R1@0.3": 0.2, "mIoU": 0.1}}
    fig = plots.plot_metric_bars(table)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([40.0, 30.0, 20.0, 10.0])   # aligner by aligner, metrics in order, in %
    assert ax.get_ylabel() == "% of queries (mIoU in %)"
    assert [t.get_text() for t in ax.texts] == ["40.0", "30.0", "20.0", "10.0"]
    assert [p.get_facecolor()[:3] for p in ax.patches[:1]] == [matplotlib.colors.to_rgb(plots.OKABE_ITO["blue"])]
    fig = plots.plot_metric_bars({"untrained": {"heldout_t2v_R1": 0.125}})
    assert fig.axes[0].patches[0].get_height() == pytest.approx(12.5) and fig.axes[0].get_ylabel() == "% of queries"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Text-to-video R@1"]   # words, not columns
    by_level = {"dp": {"step": {"R1@0.3": 0.5, "mIoU": 0.4, "queries": 7},
                       "substep": {"R1@0.3": 0.3, "mIoU": 0.2, "queries": 9}},
                "dfs": {"step": {"R1@0.3": 0.25}}}
    fig = plots.plot_level_breakdown(by_level)
    assert [ax.get_title() for ax in fig.axes] == ["R1@0.3", "mIoU"]        # the query count is not a metric
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([50.0, 30.0, 25.0, np.nan], nan_ok=True)
    assert [p.get_height() for p in fig.axes[1].patches] == pytest.approx([40.0, 20.0, np.nan, np.nan], nan_ok=True)
    assert fig.axes[0].get_ylabel() == "% of queries (mIoU in %)"
    assert legend_texts(fig) == ["dp", "dfs"]
    with pytest.raises(VtkitError):
        plots.plot_metric_bars({})


def test_duration_breakdown_bars_per_level_with_counts():
    by_duration = {"step": {"2-4 s": {"R1@0.3": 0.5, "queries": 4}, ">=32 s": {"R1@0.3": 0.9, "queries": 10}},
                   "substep": {"<2 s": {"R1@0.3": 0.25, "queries": 8}, "2-4 s": {"R1@0.3": 0.4, "queries": 5}}}
    fig = plots.plot_duration_breakdown(by_duration)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<2 s\n0 | 8", "2-4 s\n4 | 5", ">=32 s\n10 | 0"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([np.nan, 50.0, 90.0, 25.0, 40.0, np.nan], nan_ok=True)
    assert ax.get_xlabel() == "annotated duration (queries: step | substep)"
    assert legend_texts(fig) == ["step", "substep"]
    with pytest.raises(VtkitError):
        plots.plot_duration_breakdown({})


def test_untrained_vs_trained_bars_readable_at_zero():
    fig = plots.plot_metric_bars({"untrained": {"heldout_t2v_R1": 0.04, "heldout_R1@0.3": 0.0},
                                  "trained": {"heldout_t2v_R1": 0.52, "heldout_R1@0.3": 0.77}})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["4.0", "0.0", "52.0", "77.0"]
    zero = ax.patches[1]
    assert zero.get_height() == 0 and zero.get_linewidth() > 0 and zero.get_edgecolor()[3] == 1   # a visible line
    assert [ln.get_gid() for ln in ax.lines] == ["baseline"] and ax.lines[0].get_ydata()[0] == 0


def test_step_row_draws_gt_lanes_and_topk(S):
    topk = [(2, 5), (10, 12), (20, 22), (0, 1), (25, 29)]
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0], "dfs": None, "dropdtw": DP[0]}, topk, chunk_seconds=CS,
                              title="one step", fallbacks=["dropdtw"])
    ax, lanes = fig.axes
    assert (ax.get_label(), lanes.get_label()) == ("similarity", "lanes")
    gt = [p for p in ax.patches if p.get_gid() == "gt"]
    assert len(gt) == 1
    assert (gt[0].get_x(), gt[0].get_width()) == (4.0, 8.0)    # (2, 5) -> [4, 12]
    np.testing.assert_allclose(ax.patches[0].get_data().values, S[0])   # the stairs artist holds the row
    assert ax.get_xlim() == (0.0, N * CS)
    # one lane each: ground truth, dp = dropdtw (identical), dfs (no segment: empty lane), top 1..5
    assert [t.get_text() for t in lanes.get_yticklabels()] == \
        ["ground truth", "dp = dropdtw (DP fallback)", "dfs", "top 1", "top 2", "top 3", "top 4", "top 5"]
    bars = {p.get_gid(): [] for p in lanes.patches}
    for p in lanes.patches:
        bars[p.get_gid()].append(p)
    assert len(bars["gt-lane"]) == 1 and len(bars["segment:dp=dropdtw"]) == 1 and "segment:dfs" not in bars
    assert len(bars["topk"]) == 5
    last = bars["topk"][4]
    assert (last.get_x(), last.get_x() + last.get_width(), last.get_y() + last.get_height() / 2) == (50.0, 60.0, 7)
    assert bars["segment:dp=dropdtw"][0].get_facecolor()[:3] == matplotlib.colors.to_rgb(plots.OKABE_ITO["blue"])


def test_step_row_zooms_to_given_window(S):
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0]}, [], chunk_seconds=CS, xlim=(0.0, 20.0))
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim() == (0.0, 20.0)


def test_overview_has_map_lanes_and_colorbar(S):
    fig = plots.plot_overview(S, GT, DP, [f"s{k}" for k in range(K)], chunk_seconds=CS)
    ax_map, ax_lanes, _colorbar = fig.axes
    assert len([p for p in ax_map.patches if p.get_gid() == "gt"]) == 3
    assert len(lines(ax_map, "segment:DP")) == 4
    assert lines(ax_map, "segment:DP")[0].get_color() == plots.ALIGNER_STYLES["dp"].color
    assert bar_count(ax_lanes) == 4 + 3
    assert [t.get_text() for t in ax_lanes.get_yticklabels()] == ["DP", "ground truth"]


def test_step_timeline_and_grid():
    fig = plots.plot_step_timeline([(10, 20, "a"), (22, 40, "b")], goal=(5, 50), substeps=[(10, 14), (15, 20)])
    ax = fig.axes[0]
    assert bar_count(ax) == 4
    assert [t.get_text() for t in ax.get_yticklabels()] == ["substeps", "steps"]
    goal = [p for p in ax.patches if p.get_gid() == "goal"]
    assert goal and goal[0].get_facecolor()[:3] != matplotlib.colors.to_rgb(ax.get_facecolor())
    assert legend_texts(fig) == ["goal segment"] and ax.get_legend() is None   # under the figure
    step = SimpleNamespace(start=1.0, end=3.0, description="x")
    unknown = SimpleNamespace(start=None, end=None, description="test split")
    video = SimpleNamespace(video_uid="0123456789abcdef", goal_description="make tea", start_time=0.0, end_time=5.0,
                            steps=[step, unknown], substeps=[])
    fig = plots.plot_timelines([video, {"title": "v2", "steps": [(0, 2), (3, 4)]}, {"steps": []}], max_videos=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert bar_count(visible[0]) == 1 and bar_count(visible[1]) == 2
    assert visible[0].get_title() == "01234567…: make tea"
    assert visible[0].get_xlabel() == "" and visible[1].get_xlabel() == "time (seconds)"
    assert len(fig.legends) == 1


def test_step_numbers_only_on_steps_wide_enough():
    steps = [(0, 100), (100, 101), (101, 102), (102, 300)]   # two 1 s steps between wide ones
    fig = plots.plot_step_timeline(steps)
    assert drawn_bar_labels(fig) == ["1", "4"]


def test_dataset_statistics_figures():
    rng = np.random.default_rng(2)
    steps, subs = rng.exponential(30, 200), rng.exponential(5, 300)
    fig = plots.plot_duration_histograms(steps, subs)
    assert [sum(p.get_height() for p in ax.patches) for ax in fig.axes] == [200, 300]
    assert f"median {np.median(steps):.1f} s" in fig.axes[0].get_title()
    fig = plots.plot_coverage_histogram([0.5, 0.7, 0.9, np.nan])
    assert sum(p.get_height() for p in fig.axes[0].patches) == 3
    assert "mean 70 %" in fig.axes[0].get_title() and fig.axes[0].get_xlim()[1] >= 100    # percent
    descriptions = ["Cut onion", "cut  onion", "wash hands", "wash hands", "wash hands", "stir"]
    fig = plots.plot_description_stats(descriptions, top=5)
    words_ax, top_ax = fig.axes
    assert sum(p.get_height() for p in words_ax.patches) == len(descriptions)
    assert [t.get_text() for t in top_ax.get_yticklabels()] == ["cut onion", "wash hands"]
    assert [p.get_width() for p in top_ax.patches] == [2, 3]


def _history(tmp_path, rows):
    path = tmp_path / "history.csv"
    cols = ["epoch", "train_loss", "heldout_loss", "heldout_t2v_R1", "heldout_R1@0.3", "lr", "time"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)
    return path


def test_training_curves_from_csv(tmp_path):
    path = _history(tmp_path, [[1, 3.0, 3.5, 0.1, "", 1e-4, "12:00"], [2, 2.0, 2.5, 0.2, 0.15, 5e-5, "12:01"]])
    fig = plots.plot_training_curves(path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "Retrieval", "Alignment", "Learning rate"]
    loss = fig.axes[0]
    data = [ln for ln in loss.lines if ln.get_gid() != "best-epoch"]
    assert [ln.get_label() for ln in data] == ["train loss", "selection-split loss"]
    np.testing.assert_allclose(data[1].get_ydata(), [3.5, 2.5])
    np.testing.assert_allclose(lines(fig.axes[2], "heldout_R1@0.3")[0].get_xdata(), [2.0])   # blank skipped
    np.testing.assert_allclose(lines(fig.axes[1], "heldout_t2v_R1")[0].get_ydata(), [10.0, 20.0])   # percent
    assert [ax.get_ylabel() for ax in fig.axes] == ["Loss", "Text-to-video R@1 (%)", "Alignment R1@0.3 (all) (%)",
                                                    "Learning rate"]
    assert fig.axes[2].get_xlabel() == "Epoch"
    for ax in fig.axes:                                                    # whole epochs only
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    fig = plots.plot_training_curves([{"train_loss": 1.0}, {"train_loss": 0.5}])
    assert len(fig.axes) == 1 and list(fig.axes[0].lines[0].get_xdata()) == [1, 2]
    with pytest.raises(VtkitError, match="not found"):
        plots.plot_training_curves(tmp_path / "missing.csv")


def test_training_curves_mark_the_best_epoch(tmp_path):
    rows = [[0, "", 3.0, 0.05, 0.0, 1e-4, ""], [1, 2.0, 2.0, 0.3, 0.5, 1e-4, ""], [2, 1.0, 1.8, 0.4, 0.7, 1e-4, ""],
            [3, 0.5, 1.7, 0.5, 0.7, 1e-4, ""], [4, 0.4, 1.9, 0.5, 0.6, 1e-4, ""]]
    path = _history(tmp_path, rows)
    # highest alignment R1@0.3 (epochs 2 and 3 tie at 0.7), the tie goes to the lower val loss: epoch 3
    assert plots.best_epoch_of(plots.read_history(path)) == 3
    fig = plots.plot_training_curves(path)
    for ax in fig.axes:
        assert [ln.get_xdata()[0] for ln in lines(ax, "best-epoch")] == [3]
    assert "best epoch (3)" in legend_texts(fig)
    fig = plots.plot_training_curves(path, best_epoch=1)
    assert lines(fig.axes[0], "best-epoch")[0].get_xdata()[0] == 1
    assert plots.best_epoch_of(plots.read_history(path), metric="heldout_t2v_R1") == 3
    no_metric = plots.plot_training_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    assert not lines(no_metric.axes[0], "best-epoch")


def test_frame_strip_shows_the_given_frames():
    rng = np.random.default_rng(3)
    pred = [rng.integers(0, 255, (18, 32, 3), dtype=np.uint8) for _ in range(4)]
    gt = [rng.random((18, 32, 3)) for _ in range(3)]
    fig = plots.plot_frame_strip(pred, gt, times_pred=[0, 2, 4, 6], times_gt=[1.0, 3.0, 5.0],
                                 labels=("prediction 0-8 s", "ground truth 0-6 s"))
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 7
    np.testing.assert_array_equal(axes[0].images[0].get_array(), pred[0])
    np.testing.assert_allclose(axes[4].images[0].get_array(), gt[0])
    assert [ax.get_xlabel() for ax in axes] == ["0.0 s", "2.0 s", "4.0 s", "6.0 s", "1.0 s", "3.0 s", "5.0 s"]
    assert [sub.get_suptitle() for sub in fig.subfigs] == ["prediction 0-8 s", "ground truth 0-6 s"]
    empty = plots.plot_frame_strip(pred[:1], [])
    assert any("no frames" in t.get_text() for ax in empty.axes for t in ax.texts)
    with pytest.raises(VtkitError, match="H x W x 3"):
        plots.plot_frame_strip([np.zeros((4, 4))])


def test_draw_into_given_axes(S):
    fig, axes = plots.new_figure(1, 2)
    assert plots.plot_step_row(S[1], GT[1], {}, [], ax=axes[0]) is fig
    assert plots.plot_coverage_histogram([0.2], ax=axes[1]) is fig
    assert {ax.get_label() for ax in fig.axes} >= {"similarity", "lanes"}
    fig, ax = plots.new_figure()
    plots.plot_metric_bars({"dp": {"R1@0.3": 0.5}}, ax=ax)
    assert ax.get_legend() is not None and not fig.legends      # beside the given axes


def test_one_style_and_fixed_widths(tmp_path, S):
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0]}, [])
    assert fig.get_figwidth() == plots.FULL_WIDTH
    assert {t.get_fontsize() for t in fig.axes[0].get_yticklabels()} == {plots.STYLE["ytick.labelsize"]}
    out = plots.save_figure(plots.plot_coverage_histogram([0.5]), tmp_path / "cov.png")
    from PIL import Image

    assert Image.open(out).size[0] == round(plots.HALF_WIDTH * plots.DPI)


def test_save_figure_writes_png_atomically(tmp_path, S):
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0]}, [])
    out = plots.save_figure(fig, tmp_path / "figs" / "row.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["row.png"]
    plots.save_figure(plots.plot_coverage_histogram([0.5]), tmp_path / "figs" / "cov.svg")
    assert (tmp_path / "figs" / "cov.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in out.parent.iterdir()) == ["cov.svg", "row.png"]
