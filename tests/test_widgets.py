"""The explorer: widget wiring (compute called with the chosen settings, cached) and the static path."""
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vtkit import widgets  # noqa: E402
from vtkit.errors import VtkitError  # noqa: E402

VIDEOS = ["vid_a", "vid_b"]


class FakeCompute:
    """Records calls; each result carries only the requested aligner's segments."""

    def __init__(self):
        self.calls = []

    def __call__(self, video_uid, aligner, background, background_value):
        self.calls.append((video_uid, aligner, background, background_value))
        if video_uid == "broken":
            raise VtkitError("no features", field="video")
        k = 3 if video_uid == "vid_a" else 2
        shift = {"dp": 0, "dfs": 1, "unordered": 2}[aligner]
        return {
            "S": np.linspace(0, 1, k * 20).reshape(k, 20),
            "gt_spans": [(4 * i, 4 * i + 3) for i in range(k)],
            "segments": {aligner: [(4 * i + shift, 4 * i + shift + 2) for i in range(k)]},
            "topk": [[(4 * i, 4 * i + 2), (10, 12)] for i in range(k)],
            "step_labels": [f"{video_uid} step {i}" for i in range(k)],
            "chunk_seconds": 2.0,
        }


def test_interactive_explorer_calls_compute_with_new_settings_and_caches():
    compute = FakeCompute()
    ex = widgets.explore(VIDEOS, compute, interactive=True)
    assert isinstance(ex, widgets.Explorer)
    # first view: the chosen aligner (dp) plus dfs for comparison
    assert compute.calls == [("vid_a", "dp", "percentile", 50.0), ("vid_a", "dfs", "percentile", 50.0)]
    assert [label for label, _ in ex.step.options] == ["1. vid_a step 0", "2. vid_a step 1", "3. vid_a step 2"]
    assert {ln.get_gid() for ln in ex.figure.axes[0].lines} == {"segment:dp", "segment:dfs", "topk"}

    ex.aligner.value = "unordered"
    assert compute.calls[-1] == ("vid_a", "unordered", "percentile", 50.0)
    assert "unordered" in ex.figure.axes[0].get_title()

    ex.step.value = 2
    assert "step 3/3" in ex.figure.axes[0].get_title()
    ex.background_value.value = 90.0
    assert compute.calls[-1][2:] == ("percentile", 90.0)

    ex.background.value = "constant"   # slider moves to the constant range and default
    assert (ex.background_value.min, ex.background_value.max, ex.background_value.value) == (-1.0, 1.0, 0.0)
    assert ("vid_a", "unordered", "constant", 0.0) in compute.calls

    ex.video.value = "vid_b"
    assert compute.calls[-1][0] == "vid_b"
    assert [label for label, _ in ex.step.options] == ["1. vid_b step 0", "2. vid_b step 1"]
    assert ex.step.value == 0

    n = len(compute.calls)
    ex.video.value = "vid_a"             # everything for vid_a under this setting is cached
    ex.video.value = "vid_b"
    assert len(compute.calls) == n


def test_interactive_explorer_reports_compute_errors_without_raising():
    ex = widgets.explore(["broken"], FakeCompute(), interactive=True)
    assert ex.error is not None and "no features" in ex.error
    assert ex.figure is None


def test_static_path_returns_figure_without_widgets(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)   # importing it would now fail
    compute = FakeCompute()
    fig = widgets.explore(VIDEOS, compute, aligners=("dfs", "dp"), interactive=False, static_steps=2,
                          save_path=tmp_path / "explorer.png")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert {c[0] for c in compute.calls} == {"vid_a"}
    assert compute.calls[0] == ("vid_a", "dfs", "percentile", 50.0)
    assert (tmp_path / "explorer.png").read_bytes()[:4] == b"\x89PNG"


def test_auto_mode_follows_environment(monkeypatch):
    monkeypatch.setenv(widgets.ENV_INTERACTIVE, "0")
    assert widgets.running_interactively() is False
    monkeypatch.setenv(widgets.ENV_INTERACTIVE, "1")
    assert widgets.running_interactively() is True
    monkeypatch.delenv(widgets.ENV_INTERACTIVE)
    assert widgets.running_interactively() is False   # plain Python, no IPython kernel
    monkeypatch.setenv(widgets.ENV_INTERACTIVE, "0")
    assert isinstance(widgets.explore(VIDEOS, FakeCompute()), Figure)


def test_explorer_data_checks_lengths():
    good = FakeCompute()("vid_b", "dp", "percentile", 50.0)
    data = widgets.ExplorerData.coerce(good)
    assert data.S.shape == (2, 20) and data.first_chunk == 0
    with pytest.raises(VtkitError, match="topk"):
        widgets.ExplorerData.coerce({**good, "topk": [[]]})
    with pytest.raises(VtkitError, match="lacks S"):
        widgets.ExplorerData.coerce({k: v for k, v in good.items() if k != "S"})
    with pytest.raises(VtkitError):
        widgets.explore([], FakeCompute(), interactive=False)


def test_console_rule_is_shared_and_light():
    import subprocess

    from vtkit import console

    assert widgets.running_interactively is console.running_interactively
    assert widgets.ENV_INTERACTIVE == console.ENV_INTERACTIVE == "VTKIT_INTERACTIVE"
    code = ("import sys, vtkit.console as c; c.interactive_output(); c.running_interactively(); "
            "print(sorted(m for m in ('matplotlib', 'torch', 'numpy', 'vtkit.widgets', 'vtkit.train') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
