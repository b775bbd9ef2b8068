"""The explorer: widget wiring (compute called with the chosen settings, cached, busy state, zoom,
fallbacks, frames), the static figure in every execution, and the notebook error handler."""
import sys
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vtkit import notebook_setup, plots, widgets  # noqa: E402
from vtkit.errors import VtkitError  # noqa: E402

VIDEOS = ["vid_a", "vid_b"]
SHIFT = {"dp": 0, "dfs": 1, "dropdtw": 0, "unordered": 2}


class FakeCompute:
    """Records calls (and, once ``explorer`` is set, its busy state); each result carries only the
    requested aligner's segments; ``fallback_dfs`` reports the DFS as the DP's stand-in."""

    def __init__(self, fallback_dfs: bool = False):
        self.calls, self.busy = [], []
        self.explorer = None
        self.fallback_dfs = fallback_dfs

    def __call__(self, video_uid, aligner, background, background_value):
        self.calls.append((video_uid, aligner, background, background_value))
        if self.explorer is not None:
            self.busy.append((self.explorer.status.value, self.explorer.aligner.disabled))
        if video_uid == "broken":
            raise VtkitError("no features", field="video")
        k = 3 if video_uid == "vid_a" else 2
        shift = SHIFT[aligner]
        result = {
            "S": np.linspace(0, 1, k * 20).reshape(k, 20),
            "gt_spans": [(4 * i, 4 * i + 3) for i in range(k)],
            "segments": {aligner: [(4 * i + shift, 4 * i + shift + 2) for i in range(k)]},
            "topk": [[(4 * i, 4 * i + 2), (10, 12)] for i in range(k)],
            "step_labels": [f"{video_uid} step {i}" for i in range(k)],
            "chunk_seconds": 2.0,
        }
        if self.fallback_dfs:
            result["fallback"] = {aligner: aligner == "dfs"}
        return result


def gids(fig):
    return {artist.get_gid() for ax in fig.axes for artist in [*ax.lines, *ax.patches] if artist.get_gid()}


def lane_labels(fig):
    lanes = next(ax for ax in fig.axes if ax.get_label() == "lanes")
    return [t.get_text() for t in lanes.get_yticklabels()]


def test_interactive_explorer_calls_compute_with_new_settings_and_caches():
    compute = FakeCompute()
    ex = widgets.explore(VIDEOS, compute, interactive=True)
    assert isinstance(ex, widgets.Explorer)
    # first view: the chosen aligner (dp) plus dfs for comparison
    assert compute.calls == [("vid_a", "dp", "percentile", 50.0), ("vid_a", "dfs", "percentile", 50.0)]
    assert [label for label, _ in ex.step.options] == ["1. vid_a step 0", "2. vid_a step 1", "3. vid_a step 2"]
    assert gids(ex.figure) >= {"segment:dp", "segment:dfs", "topk", "gt", "gt-lane"}
    assert "dropdtw" in ex.aligner.options                       # every report aligner is offered

    ex.aligner.value = "unordered"
    assert compute.calls[-1] == ("vid_a", "unordered", "percentile", 50.0)
    assert "unordered" in ex.figure.axes[0].get_title()

    ex.step.value = 2
    assert "step 3/3" in ex.figure.axes[0].get_title()
    ex.background_value.value = 90.0
    assert compute.calls[-1][2:] == ("percentile", 90.0)

    ex.background.value = "constant"   # slider moves to the constant range and default
    assert (ex.background_value.min, ex.background_value.max, ex.background_value.value) == (-3.0, 3.0, 0.0)
    assert ("vid_a", "unordered", "constant", 0.0) in compute.calls

    ex.video.value = "vid_b"
    assert compute.calls[-1][0] == "vid_b"
    assert [label for label, _ in ex.step.options] == ["1. vid_b step 0", "2. vid_b step 1"]
    assert ex.step.value == 0

    n = len(compute.calls)
    ex.video.value = "vid_a"             # everything for vid_a under this setting is cached
    ex.video.value = "vid_b"
    assert len(compute.calls) == n


def test_explorer_shows_busy_state_while_computing():
    compute = FakeCompute()
    ex = widgets.explore(VIDEOS, compute, interactive=True)
    compute.explorer = ex
    ex.aligner.value = "dropdtw"
    assert compute.busy == [("<i>computing…</i>", True)]     # during the compute call
    assert not ex.aligner.disabled and "computing" not in ex.status.value
    assert ex.status.value.startswith("vid_a · 3 steps")


def test_explorer_marks_dfs_fallback():
    compute = FakeCompute(fallback_dfs=True)
    ex = widgets.explore(VIDEOS, compute, interactive=True)
    assert lane_labels(ex.figure)[:3] == ["ground truth", "dp", "dfs (DP fallback)"]
    assert "dfs: DP fallback" in ex.status.value
    data = widgets.ExplorerData.coerce({**compute("vid_b", "dfs", "percentile", 50.0), "fallback": True}, "dfs")
    assert data.fallbacks == {"dfs"}
    assert widgets.ExplorerData.coerce(compute("vid_b", "dp", "percentile", 50.0), "dp").fallbacks == set()


def test_explorer_zooms_to_the_step():
    ex = widgets.explore(VIDEOS, FakeCompute(), interactive=True)
    assert ex.figure.axes[0].get_xlim() == (0.0, 40.0)          # the whole video: 20 chunks of 2 s
    ex.step.value = 1
    ex.zoom.value = 10.0
    # step 2: ground truth (4, 7) -> [8, 16) s, dp (4, 6), dfs (5, 7); +- 10 s
    assert ex.figure.axes[0].get_xlim() == (0.0, 26.0)
    ex.zoom.value = None
    assert ex.figure.axes[0].get_xlim() == (0.0, 40.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(0.5, 100)), min_size=0, max_size=5),   # a span: >= 1 chunk
       st.one_of(st.none(), st.floats(0, 300)))
def test_focus_window_holds_every_window_inside_the_bounds(windows, context):
    windows = [(a, a + d) for a, d in windows]
    bounds = (0.0, 1100.0)
    t0, t1 = widgets.focus_window(windows, context, bounds)
    assert bounds[0] <= t0 < t1 <= bounds[1]
    if context is None or not windows:
        assert (t0, t1) == bounds
    else:
        for a, b in windows:
            assert t0 <= a and min(b, bounds[1]) <= t1
        assert t0 == max(bounds[0], min(a for a, _ in windows) - context)


def test_video_list_shows_goal_and_step_count():
    video = SimpleNamespace(video_uid="c2d06df7-5d3a-4116-9edb-f1c81a4f669b", goal_description="make a  pot of tea",
                            steps=[1, 2, 3])
    assert widgets.video_option(video) == ("c2d06df7… (make a pot of tea, 3 steps)", video.video_uid)
    assert widgets.video_option("vid_a") == ("vid_a", "vid_a")
    ex = widgets.explore([SimpleNamespace(video_uid="vid_a", goal_description="cook", steps=[1, 2, 3])],
                         FakeCompute(), interactive=True)
    assert ex.video.options == (("vid_a (cook, 3 steps)", "vid_a"),) and ex.video.value == "vid_a"


def test_explorer_shows_frame_strip_when_frames_are_given():
    asked = []

    def frames(video_uid, t0, t1, n):
        asked.append((video_uid, t0, t1, n))
        return [np.full((9, 16, 3), 10 * i, np.uint8) for i in range(n)]

    ex = widgets.explore(VIDEOS, FakeCompute(), interactive=True, frames=frames, frame_count=3)
    # step 1: dp (0, 2) -> [0, 6) s, ground truth (0, 3) -> [0, 8) s
    assert asked == [("vid_a", 0.0, 6.0, 3), ("vid_a", 0.0, 8.0, 3)]
    assert isinstance(ex.strip, Figure) and sum(len(ax.images) for ax in ex.strip.axes) == 6
    from vtkit.timeline import frame_times

    np.testing.assert_allclose(frame_times(0.0, 6.0, 3), [1.0, 3.0, 5.0])
    plain = widgets.explore(VIDEOS, FakeCompute(), interactive=True)
    assert plain.strip is None


def test_interactive_display_shows_static_figure_then_widgets(monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    ex = widgets.explore(VIDEOS, FakeCompute(), interactive=True, save_path=tmp_path / "explorer.png")
    shown.clear()
    ex._ipython_display_()
    assert shown[0] is ex.static and isinstance(shown[0], Figure) and shown[1] is ex.box
    assert (tmp_path / "explorer.png").read_bytes()[:4] == b"\x89PNG"    # saved in both modes


def test_interactive_explorer_reports_compute_errors_without_raising():
    ex = widgets.explore(["broken"], FakeCompute(), interactive=True)
    assert ex.error is not None and "no features" in ex.error
    assert ex.figure is None and ex.static is None


def test_static_path_returns_figure_without_widgets(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)   # importing it would now fail
    compute = FakeCompute()
    fig = widgets.explore(VIDEOS, compute, aligners=("dfs", "dp"), interactive=False, static_steps=2,
                          save_path=tmp_path / "explorer.png")
    assert isinstance(fig, Figure)
    assert [ax.get_label() for ax in fig.axes] == ["similarity", "lanes"] * 2
    assert {c[0] for c in compute.calls} == {"vid_a"}
    assert compute.calls[0] == ("vid_a", "dfs", "percentile", 50.0)
    assert (tmp_path / "explorer.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.get_figwidth() == plots.FULL_WIDTH and fig.get_figheight() <= plots.MAX_HEIGHT
    assert fig.axes[0].get_title().startswith("vid_a · step 1/3")


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
    code = ("import sys, vtkit.console as c; c.interactive_output(); c.running_interactively(); c.jupyter_shell(); "
            "print(sorted(m for m in ('matplotlib', 'torch', 'numpy', 'vtkit.widgets', 'vtkit.train') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------ notebook set-up


def test_one_line_error_handler_sends_one_error_line_and_folded_traceback(monkeypatch):
    shown, errors = [], []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    shell = SimpleNamespace(_showtraceback=lambda etype, value, stb: errors.append((etype, value, stb)))
    try:
        raise VtkitError("must be > 0", path="params.yaml", field="lr")
    except VtkitError as err:
        etype, value, tb = type(err), err, err.__traceback__
    assert notebook_setup.one_line_error(shell, etype, value, tb) is None
    (_, _, stb), = errors
    assert len(stb) == 1 and "VtkitError: " in stb[0] and "params.yaml" in stb[0] and "lr" in stb[0]
    html = shown[0]["text/html"]
    assert html.startswith("<details>") and "Traceback (most recent call last)" in html and "&gt; 0" in html
    assert "test_one_line_error_handler" in shown[0]["text/plain"]


def test_setup_outside_a_kernel_does_nothing():
    notebook_setup.setup_notebook()        # plain Python: no shell to change
    assert notebook_setup.jupyter_shell() is None


def _run_notebook(tmp_path, cells):
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    try:
        papermill.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
        error = None
    except papermill.PapermillExecutionError as err:
        error = err
    return error, nbformat.read(out, as_version=4)


@pytest.mark.slow
def test_vtkit_error_in_a_notebook_is_one_line_and_the_cell_still_fails(tmp_path):
    error, nb = _run_notebook(tmp_path, [
        "from vtkit.notebook_setup import setup_notebook\nsetup_notebook()",
        "from vtkit.errors import VtkitError\nraise VtkitError('must be > 0', path='params.yaml', field='lr')",
        "print('not reached')",
    ])
    assert error is not None and error.ename == "VtkitError" and "params.yaml" in error.evalue   # papermill saw it
    code = [c for c in nb.cells if c.cell_type == "code"]       # papermill puts a note cell in front
    outputs = code[1].outputs
    err = [o for o in outputs if o.output_type == "error"]
    assert len(err) == 1 and len(err[0].traceback) == 1 and "lr: must be > 0" in err[0].traceback[0]
    folded = [o for o in outputs if o.output_type == "display_data"]
    assert folded and folded[0].data["text/html"].startswith("<details>")
    assert not code[2].outputs


# ------------------------------------------------------------------------------------ notebook 03


@pytest.mark.slow
def test_notebook_03_under_plain_papermill_holds_the_explorer_figure(tmp_path, monkeypatch):
    """Without ``vtkit run`` (so no VTKIT_INTERACTIVE), the explorer cell still carries a PNG."""
    import nbformat
    import papermill

    from test_notebooks import NOTEBOOKS_DIR, _params
    from vtkit.config import Config
    from vtkit.samples import generate_samples
    from vtkit.train import train

    monkeypatch.delenv(widgets.ENV_INTERACTIVE, raising=False)
    samples = tmp_path / "data"
    generate_samples(samples, seed=2, n_train=2, n_val=1, minutes=(1.5, 2.0))
    params = _params(samples, out_dir=str(tmp_path / "run"), epochs=1, max_steps_per_epoch=2)
    train(Config.from_dict(params), progress=False)
    out = tmp_path / "03.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "03_similarity_analysis.ipynb"), str(out), parameters=params,
                               kernel_name="python3", progress_bar=False, cwd=str(NOTEBOOKS_DIR))
    nb = nbformat.read(out, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "explore(" in c.source)
    kinds = [set(o.get("data", {})) for o in cell.outputs]
    assert any("image/png" in k for k in kinds)                                      # the static figure
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)      # and the live widget
    assert (tmp_path / "run" / "figures" / "03_explorer.png").is_file()
