"""The four notebooks: committed structure, and one end-to-end `vtkit run` on a tiny generated dataset.

The run executes every notebook through papermill (each starts a kernel and loads the text
model), so it happens once per module and the assertions share it.
"""
from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import nbformat
import pytest

from vtkit.annotations import load_annotations, summarize
from vtkit.config import PATH_FIELDS, Config
from vtkit.errors import VtkitError
from vtkit.metrics import score
from vtkit.metrics import METRIC_NAMES as METRIC_COLUMNS
from vtkit.run import NotebookError, declared_parameters, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = ["01_data_inspection.ipynb", "02_training.ipynb", "03_similarity_analysis.ipynb", "04_evaluation.ipynb"]
SHARED = {"video_root", "train_annotations", "val_annotations", "feature_store", "chunk_seconds", "text_model",
          "seed", "out_dir", "feature_cache_dir"}
MODEL_AND_TRAINING = {"embed_dim", "adapter", "adapter_dim", "adapter_scale", "adapter_dropout", "clip_alpha", "text_block_adapters", "lock_text_head",
                      "context_window", "temperature", "learn_temperature", "negative_ratio", "negative_source",
                      "background_ratio", "loss", "batch_size", "epochs", "lr", "weight_decay", "lr_schedule",
                      "warmup_fraction", "grad_clip", "early_stop_patience", "max_steps_per_epoch", "resume",
                      "text_cache_dir", "train_levels", "projection_init", "selection_fraction", "selection_fold", "selection_annotations"}
ALIGNMENT = {"aligner", "background", "background_value", "substep_background_value", "min_len", "max_len", "skip_penalty", "dfs_node_budget",
             "dfs_time_budget", "dfs_max_total", "dfs_max_gap", "dfs_max_skips", "substep_mode", "top_k",
             "select_background"}
EVAL_ALIGNERS = ("dp", "dfs", "unordered", "dropdtw")
FIGURES = {
    "01": ["01_timelines", "01_durations", "01_coverage", "01_descriptions"],
    "02": ["02_training_curves", "02_untrained_vs_trained"],
    "03": ["03_heatmap_0", "03_similarity_distributions", "03_trained_vs_untrained", "overview", "03_explorer"],
    "04": ["04_recall_curves", "04_level_breakdown", "04_duration_breakdown", "04_metric_bars"],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _parameters(path: Path) -> dict:
    """Names and literal values assigned in the notebook's ``parameters`` cell."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{path.name}: not a plain assignment"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


# ------------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_structure(name):
    path = NOTEBOOKS_DIR / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "vtkit run" in nb.cells[0].source  # says how to run it
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "exactly one parameters cell, the first code cell"
    assert code[1].source.count("Config.from_namespace(globals())") == 1, "the cell after parameters builds cfg"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs committed"

    values = _parameters(path)
    assert set(values) == declared_parameters(path)  # what `vtkit run` will inject
    assert set(values) <= set(Config.names())
    assert SHARED <= set(values)
    # the defaults are valid and point at the committed sample data (paths relative to notebooks/)
    cfg = Config.from_dict(values, source=name)
    cfg.check_paths(base=NOTEBOOKS_DIR, names=tuple(n for n in PATH_FIELDS if n in values))
    assert Path(cfg.out_dir) == Path("../reports/sample")


def test_knobs_have_the_same_names_and_defaults_everywhere():
    params = {name: _parameters(NOTEBOOKS_DIR / name) for name in NOTEBOOKS}
    assert MODEL_AND_TRAINING <= set(params["02_training.ipynb"])
    for name in NOTEBOOKS[1:]:
        assert ALIGNMENT <= set(params[name]), name
    merged: dict = {}
    for values in params.values():
        for key, value in values.items():
            assert merged.setdefault(key, value) == value, f"{key} has different defaults across notebooks"
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) == NOTEBOOKS
    assert set(merged) == set(Config.names())   # every parameter reaches a notebook through `vtkit run`


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_equals_the_config_defaults_apart_from_paths(name):
    """A notebook opened by hand runs with exactly the kit's defaults (paths relative to notebooks/)."""
    values = _parameters(NOTEBOOKS_DIR / name)
    defaults = Config().to_dict()
    paths = {*PATH_FIELDS, "out_dir", "text_cache_dir", "feature_cache_dir"}
    differ = {k: (v, defaults[k]) for k, v in values.items() if k not in paths and v != defaults[k]}
    assert not differ, f"{name}: parameters differ from Config(): {differ}"
    for key in paths & set(values):
        assert Path(NOTEBOOKS_DIR / values[key]).resolve() == (ROOT / defaults[key]).resolve(), key


# ------------------------------------------------------------------------------------------ execution


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """2 train + 1 val videos of 1.5-2 minutes; seed 6 gives every video substeps."""
    from vtkit.samples import generate_samples

    root = tmp_path_factory.mktemp("nb_samples") / "data"
    generate_samples(root, seed=6, n_train=2, n_val=1, minutes=(1.5, 2.0))
    return root


def _params(samples: Path, **changes) -> dict:
    return {"video_root": str(samples / "videos"), "train_annotations": str(samples / "goalstep_train.json"),
            "val_annotations": str(samples / "goalstep_val.json"), "text_cache_dir": str(samples.parent / "text"), "feature_cache_dir": str(samples.parent / "features"),
            "epochs": 2, "batch_size": 32, "max_steps_per_epoch": 4, "plot_videos": 1, "device": "cpu",
            **changes}


@pytest.fixture(scope="module")
def run(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb_run") / "run"
    result = run_notebooks(_params(samples), out, notebooks_dir=NOTEBOOKS_DIR, echo=False)
    return samples, out, result


def test_every_notebook_ran_and_wrote_its_figures(run):
    _, out, result = run
    assert result.executed == NOTEBOOKS
    for name in NOTEBOOKS:
        nb = nbformat.read(out / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors
    assert not list(out.glob("*.failed.ipynb"))
    for names in FIGURES.values():
        for stem in names:
            data = (out / "figures" / f"{stem}.png").read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 1000, stem
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "done" and [e["status"] for e in record["notebooks"]] == ["done"] * 4


def test_data_summary_matches_the_annotations(run):
    samples, out, _ = run
    summary = json.loads((out / "data_summary.json").read_text())
    for split in ("train", "val"):
        expected = json.loads(json.dumps(summarize(load_annotations(samples / f"goalstep_{split}.json"))))
        assert summary["splits"][split] == expected
    features = summary["features"]
    n_videos = len(list((samples / "videos").iterdir()))
    assert features["videos_in_store"] == features["annotated_videos"] == n_videos == 3
    assert features["feature_dim"] == 256 and features["missing_features"] == []
    assert features["chunks"] == sum(len(list(d.glob("chunk_*.pt"))) for d in (samples / "videos").iterdir())


def test_training_summary_matches_history(run):
    _, out, _ = run
    training = json.loads((out / "training.json").read_text())
    with open(out / "history.csv", newline="") as fh:
        rows = {int(r["epoch"]): r for r in csv.DictReader(fh)}
    assert training["epochs"] == 2 and sorted(rows) == [0, 1, 2]
    for label, epoch in (("untrained", 0), ("trained", training["best_epoch"])):
        for column in ("heldout_t2v_R1", "heldout_R1@0.3"):
            assert training[label][column] == pytest.approx(float(rows[epoch][column]))
    assert training["best_metric"] == pytest.approx(training["trained"][training["metric"]])
    assert 0 < training["params"]["trainable"] < training["params"]["total"]
    assert (out / "checkpoints" / "best.safetensors").is_file()


def test_metrics_json_shape_and_values(run):
    samples, out, _ = run
    from vtkit.submission import check_submission, read_predictions

    metrics = json.loads((out / "metrics.json").read_text())
    val = load_annotations(samples / "goalstep_val.json")
    queries = val.queries()
    assert {q.level for q in queries} == {"step", "substep"}
    assert metrics["queries"] == len(queries)
    assert set(metrics["aligners"]) == set(EVAL_ALIGNERS)
    for table in [*metrics["aligners"].values(), metrics["untrained_dp"]]:
        assert list(table) == list(METRIC_COLUMNS)
        assert all(0.0 <= v <= 1.0 for v in table.values())
    for aligner, by_level in metrics["by_level"].items():
        assert set(by_level) == {"step", "substep"}
        assert sum(level["queries"] for level in by_level.values()) == len(queries)
    training = json.loads((out / "training.json").read_text())
    assert metrics["training"] == {k: v for k, v in training.items() if k not in ("seconds", "pairs_per_second", "timings")}

    # the predictions written in the challenge format score exactly as metrics.json says
    for aligner in EVAL_ALIGNERS:
        assert check_submission(out / f"predictions_{aligner}.json", val) == []
        preds = read_predictions(out / f"predictions_{aligner}.json", val)
        assert set(preds) == {q.key for q in queries}
        result = score(preds, queries)
        assert {m: result[m] for m in METRIC_COLUMNS} == pytest.approx(metrics["aligners"][aligner])
        assert {m: result["by_level"]["step"][m] for m in METRIC_COLUMNS} == \
            pytest.approx({m: metrics["by_level"][aligner]["step"][m] for m in METRIC_COLUMNS})


def test_report_shows_the_metrics(run):
    _, out, result = run
    html = (out / "report.html").read_text()
    dp = json.loads((out / "metrics.json").read_text())["aligners"]["dp"]
    assert f"{100 * dp['R1@0.3']:.2f}" in html
    assert "overview.png" in html and "04_recall_curves.png" in html
    assert result.report == out / "report.html"


def test_evaluation_without_a_checkpoint_names_the_failing_notebook(samples, tmp_path):
    with pytest.raises(NotebookError) as err:
        run_notebooks(_params(samples), tmp_path / "fresh", notebooks_dir=NOTEBOOKS_DIR, echo=False,
                      notebooks=["03_similarity_analysis.ipynb"])
    assert err.value.notebook == "03_similarity_analysis.ipynb"
    assert err.value.path == tmp_path / "fresh" / "03_similarity_analysis.failed.ipynb" and err.value.path.is_file()
    assert "no checkpoint" in str(err.value) and "02_training" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_video_without_features_stops_the_run_before_any_notebook(run, tmp_path):
    samples, out, _ = run
    data = json.loads((samples / "goalstep_val.json").read_text())
    data["videos"].append(dict(data["videos"][0], video_uid="no-such-video"))
    val = tmp_path / "val_ghost.json"
    val.write_text(json.dumps(data))
    with pytest.raises(VtkitError) as err:
        run_notebooks(_params(samples, val_annotations=str(val)), tmp_path / "ghost", notebooks_dir=NOTEBOOKS_DIR,
                      echo=False)
    assert "no-such-video" in str(err.value) and "skip_missing_features" in str(err.value)
    assert not (tmp_path / "ghost").exists()


def test_wrong_chunk_seconds_stops_the_run_before_any_notebook(samples, tmp_path):
    with pytest.raises(VtkitError) as err:
        run_notebooks(_params(samples, chunk_seconds=1.0), tmp_path / "shifted", notebooks_dir=NOTEBOOKS_DIR,
                      echo=False)
    assert "chunk_seconds" in str(err.value) and not (tmp_path / "shifted").exists()


def test_same_parameters_and_seed_give_identical_metrics(run, tmp_path):
    """A second run (training and evaluation) reproduces metrics.json byte for byte on CPU."""
    samples, out, _ = run
    again = tmp_path / "again"
    run_notebooks(_params(samples), again, notebooks_dir=NOTEBOOKS_DIR, echo=False,
                  notebooks=["02_training.ipynb", "04_evaluation.ipynb"])
    assert (again / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
