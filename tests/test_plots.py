"""Figures: built from small synthetic data, checked artist by artist against the inputs."""
import csv
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
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


def bar_count(ax):
    return sum(len(c.get_paths()) for c in ax.collections if isinstance(c, PolyCollection))  # broken_barh bars


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
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"ground truth", "dp", "dfs"}
    assert ax.get_xlabel() == "time (seconds)"


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


def test_short_label():
    assert plots.short_label("cut   the\nonion", 30) == "cut the onion"
    assert plots.short_label("abcdefghij", 5) == "abcd…"


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
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    sep = plots.separation(pos, neg)
    assert any(f"AUC {sep['auc']:.3f}" in t and f"gap {sep['mean_gap']:.3f}" in t for t in texts)
    assert any(t.startswith("positive (n=3") for t in texts)
    fig = plots.plot_trained_vs_untrained(pos, neg, pos + 0.3, neg)
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["Untrained (backbone only)", "Trained"]


def test_recall_curves_accepts_both_forms():
    thr = np.array([0.1, 0.3, 0.5])
    curves = {"dp": {1: (thr, [0.9, 0.5, 0.2]), 5: (thr, [1.0, 0.8, 0.5])},
              "dfs": {"thresholds": thr, "R1": np.array([0.8, 0.4, 0.1]), "R5": np.array([0.9, 0.7, 0.4])}}
    fig = plots.plot_recall_curves(curves)
    assert [ax.get_ylabel() for ax in fig.axes] == ["R@1", "R@5"]
    for ax in fig.axes:
        assert [ln.get_label() for ln in ax.lines] == ["dp", "dfs"]
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [0.9, 0.7, 0.4])


def test_metric_bars_and_level_breakdown_heights_in_percent():
    table = {"dp": {"R1@0.3": 0.4, "mIoU": 0.3}, "dfs": {"R1@0.3": 0.2, "mIoU": 0.1}}
    fig = plots.plot_metric_bars(table)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([40.0, 30.0, 20.0, 10.0])   # aligner by aligner, metrics in order, in %
    assert ax.get_ylabel() == "% of queries (mIoU in %)"
    assert [t.get_text() for t in ax.texts] == ["40.0", "30.0", "20.0", "10.0"]
    fig = plots.plot_metric_bars({"untrained": {"val_t2v_R1": 0.125}})
    assert fig.axes[0].patches[0].get_height() == pytest.approx(12.5) and fig.axes[0].get_ylabel() == "% of queries"
    by_level = {"dp": {"step": {"R1@0.3": 0.5, "mIoU": 0.4, "queries": 7},
                       "substep": {"R1@0.3": 0.3, "mIoU": 0.2, "queries": 9}},
                "dfs": {"step": {"R1@0.3": 0.25}}}
    fig = plots.plot_level_breakdown(by_level)
    assert [ax.get_title() for ax in fig.axes] == ["R1@0.3", "mIoU"]        # the query count is not a metric
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([50.0, 30.0, 25.0, np.nan], nan_ok=True)
    assert [p.get_height() for p in fig.axes[1].patches] == pytest.approx([40.0, 20.0, np.nan, np.nan], nan_ok=True)
    assert fig.axes[0].get_ylabel() == "% of queries (mIoU in %)"
    with pytest.raises(VtkitError):
        plots.plot_metric_bars({})


def test_step_row_draws_gt_segments_and_topk(S):
    topk = [(2, 5), (10, 12), (20, 22), (0, 1), (25, 29)]
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0], "dfs": None}, topk, chunk_seconds=CS, title="one step")
    ax = fig.axes[0]
    gt = [p for p in ax.patches if p.get_gid() == "gt"]
    assert len(gt) == 1
    assert (gt[0].get_x(), gt[0].get_width()) == (4.0, 8.0)    # (2, 5) -> [4, 12]
    assert len(lines(ax, "segment:dp")) == 1 and not lines(ax, "segment:dfs")
    assert len(lines(ax, "topk")) == 5
    np.testing.assert_allclose(lines(ax, "topk")[4].get_xdata(), [50.0, 60.0])
    np.testing.assert_allclose(ax.patches[0].get_data().values, S[0])   # the stairs artist holds the row
    assert ax.get_xlim() == (0.0, N * CS)


def test_overview_has_map_lanes_and_colorbar(S):
    fig = plots.plot_overview(S, GT, DP, [f"s{k}" for k in range(K)], chunk_seconds=CS)
    ax_map, ax_lanes, _colorbar = fig.axes
    assert len([p for p in ax_map.patches if p.get_gid() == "gt"]) == 3
    assert len(lines(ax_map, "segment:DP")) == 4
    assert bar_count(ax_lanes) == 4 + 3
    assert [t.get_text() for t in ax_lanes.get_yticklabels()] == ["DP", "ground truth"]


def test_step_timeline_and_grid():
    fig = plots.plot_step_timeline([(10, 20, "a"), (22, 40, "b")], goal=(5, 50), substeps=[(10, 14), (15, 20)])
    ax = fig.axes[0]
    assert bar_count(ax) == 4
    assert [t.get_text() for t in ax.get_yticklabels()] == ["substeps", "steps"]
    step = SimpleNamespace(start=1.0, end=3.0, description="x")
    unknown = SimpleNamespace(start=None, end=None, description="test split")
    video = SimpleNamespace(video_uid="abc", goal_description="make tea", start_time=0.0, end_time=5.0,
                            steps=[step, unknown], substeps=[])
    fig = plots.plot_timelines([video, {"title": "v2", "steps": [(0, 2), (3, 4)]}, {"steps": []}], max_videos=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert bar_count(visible[0]) == 1 and bar_count(visible[1]) == 2
    assert visible[0].get_title() == "abc: make tea"


def test_dataset_statistics_figures():
    rng = np.random.default_rng(2)
    steps, subs = rng.exponential(30, 200), rng.exponential(5, 300)
    fig = plots.plot_duration_histograms(steps, subs)
    assert [sum(p.get_height() for p in ax.patches) for ax in fig.axes] == [200, 300]
    fig = plots.plot_coverage_histogram([0.5, 0.7, 0.9, np.nan])
    assert sum(p.get_height() for p in fig.axes[0].patches) == 3
    descriptions = ["Cut onion", "cut  onion", "wash hands", "wash hands", "wash hands", "stir"]
    fig = plots.plot_description_stats(descriptions, top=5)
    words_ax, top_ax = fig.axes
    assert sum(p.get_height() for p in words_ax.patches) == len(descriptions)
    assert [t.get_text() for t in top_ax.get_yticklabels()] == ["cut onion", "wash hands"]
    assert [p.get_width() for p in top_ax.patches] == [2, 3]


def test_training_curves_from_csv(tmp_path):
    path = tmp_path / "history.csv"
    cols = ["epoch", "train_loss", "val_loss", "val_t2v_R1", "val_align_R1@0.3", "lr", "time"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerow([1, 3.0, 3.5, 0.1, "", 1e-4, "12:00"])
        w.writerow([2, 2.0, 2.5, 0.2, 0.15, 5e-5, "12:01"])
    fig = plots.plot_training_curves(path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "Retrieval", "Alignment", "Learning rate"]
    loss = fig.axes[0]
    assert [ln.get_label() for ln in loss.lines] == ["train_loss", "val_loss"]
    np.testing.assert_allclose(loss.lines[1].get_ydata(), [3.5, 2.5])
    np.testing.assert_allclose(fig.axes[2].lines[0].get_xdata(), [2.0])   # the blank value is skipped
    for ax in fig.axes:                                                    # whole epochs only
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    fig = plots.plot_training_curves([{"train_loss": 1.0}, {"train_loss": 0.5}])
    assert len(fig.axes) == 1 and list(fig.axes[0].lines[0].get_xdata()) == [1, 2]
    with pytest.raises(VtkitError, match="not found"):
        plots.plot_training_curves(tmp_path / "missing.csv")


def test_draw_into_given_axes(S):
    fig, axes = plots.new_figure(1, 2)
    assert plots.plot_step_row(S[1], GT[1], {}, [], ax=axes[0]) is fig
    assert plots.plot_coverage_histogram([0.2], ax=axes[1]) is fig


def test_save_figure_writes_png_atomically(tmp_path, S):
    fig = plots.plot_step_row(S[0], GT[0], {"dp": DP[0]}, [])
    out = plots.save_figure(fig, tmp_path / "figs" / "row.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["row.png"]
    plots.save_figure(plots.plot_coverage_histogram([0.5]), tmp_path / "figs" / "cov.svg")
    assert (tmp_path / "figs" / "cov.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in out.parent.iterdir()) == ["cov.svg", "row.png"]
