"""`vtkit run` and `vtkit sweep`: execute the numbered notebooks with papermill into a run folder.

A run folder holds the executed notebooks (same file names; a notebook that raised is kept
as ``NAME.failed.ipynb``), whatever the notebooks write (``figures/*.png``, ``metrics.json``,
...), ``run.json`` (resolved parameters, package versions, git commit, per-notebook status
and wall time; rewritten after every notebook) and ``report.html``, one self-contained page.

``run.json`` marks the folder as the kit's (``"tool": "vtkit"``) and lists every file the run
wrote (``outputs``). A new run into a folder replaces an earlier run only when that record is
provably the kit's, and then deletes only the files it lists (for records from before the list:
only the kit's known outputs, :data:`KIT_OUTPUTS`); anything else in the folder is kept and
named. A non-empty folder that is not a vtkit run is refused.

Metric values in ``metrics.json`` are fractions in [0, 1]; tables show them as percentages.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import fnmatch
import itertools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vtkit.config import PATH_FIELDS, Config, parse_overrides
from vtkit.errors import VtkitError, describe
from vtkit.options import ArgumentParser
from vtkit.io import atomic_open, atomic_path, read_json, read_yaml_mapping, write_json
from vtkit.report import other_metrics, publish, read_metrics, write_report

KERNEL_NAME = "python3"
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]  # keeps the kernel's start-up notices off the terminal
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
SWEEP_METRIC = "R1@0.3"
SELECTION_COLUMN = "training/best_metric"   # the selection split's R1@0.3 at the best epoch
VERSIONED_PACKAGES = ("vtkit", "torch", "transformers", "numpy", "papermill")
RUN_FORMAT = 1
RUN_TOOL = "vtkit"  # the marker of the kit's own run.json
RUN_RECORD = "run.json"
# What a run writes into its folder: the files deleted with a run.json from before the outputs list.
KIT_OUTPUTS = (RUN_RECORD, "report.html", NOTEBOOK_PATTERN, "figures/*.png", "metrics.json", "predictions_*.json",
               "history.csv", "training.json", "timings.json", "data_summary.json", "checkpoints/*")


class NotebookError(VtkitError):
    """A notebook raised (or its kernel died); ``path`` is the kept executed notebook."""

    def __init__(self, message: str, *, path: Path, notebook: str):
        super().__init__(message, path=path)
        self.notebook = notebook


@dataclass
class RunResult:
    run_dir: Path
    config: Config
    report: Path
    executed: list[str] = field(default_factory=list)  # notebook file names run this time
    skipped: list[str] = field(default_factory=list)   # already done in this folder (--resume)
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# parameters


def resolve_config(params: dict[str, Any] | Config, out_dir: str | Path | None = None) -> Config:
    """Validate ``params`` once, check input paths (relative to the current directory) and make
    every path absolute, since the notebooks run with the notebooks folder as working directory."""
    cfg = params if isinstance(params, Config) else Config.from_dict(dict(params))
    cfg.check_paths()
    changes: dict[str, Any] = {name: _absolute(getattr(cfg, name)) for name in PATH_FIELDS}
    changes["out_dir"] = _absolute(cfg.out_dir if out_dir is None else out_dir)
    if cfg.text_cache_dir is not None:
        changes["text_cache_dir"] = _absolute(cfg.text_cache_dir)
    for name in ("selection_annotations", "checkpoint", "feature_cache_dir"):
        if getattr(cfg, name):
            changes[name] = _absolute(getattr(cfg, name))
    if Path(cfg.text_model).expanduser().exists():  # a local model folder, not a packaged name
        changes["text_model"] = _absolute(cfg.text_model)
    return cfg.replace(**changes)


def preflight(cfg: Config) -> None:
    """Checks that would otherwise fail minutes into a run: text model, device, features vs annotations."""
    from vtkit.annotations import load_annotations
    from vtkit.checkpoint import resolve_device
    from vtkit.features import open_store, require_features
    from vtkit.text import resolve_text_model
    from vtkit.timeline import covers_goal

    resolve_text_model(cfg.text_model)
    resolve_device(cfg.device)
    videos = [v for path in (cfg.train_annotations, cfg.val_annotations)
              for v in load_annotations(path).head(cfg.max_videos).videos]
    # per-chunk features are packed into the cache here, once, for every notebook (and the next runs)
    store = open_store(cfg.video_root, cfg.feature_store, cfg.chunk_seconds, cfg.feature_cache_dir,
                       videos=[v.video_uid for v in videos], progress=True)
    require_features(videos, store, cfg.skip_missing_features)
    chunks = {v.video_uid: store.metadata(v.video_uid)["num_chunks"]
              for v in videos if v.video_uid in store and v.end_time is not None}
    short = [v for v in videos if v.video_uid in chunks and not covers_goal(chunks[v.video_uid], v.end_time,
                                                                             store.chunk_seconds)]
    if chunks and len(short) == len(chunks):
        v = short[0]
        raise VtkitError(f"the features of every video end before its goal segment does (e.g. {v.video_uid}: "
                         f"{chunks[v.video_uid] * store.chunk_seconds:.0f} s of features < goal end {v.end_time:.0f} s); "
                         f"were they made with another chunk length than chunk_seconds={cfg.chunk_seconds}?",
                         field="chunk_seconds")


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def load_params(params_file: str | None, pairs: list[str]) -> dict[str, Any]:
    """Full parameter dict: Config defaults < YAML file < ``-p key=value`` pairs (validated)."""
    overrides = parse_overrides(pairs or [])
    if params_file:
        return Config.from_yaml(params_file, overrides).to_dict()
    return Config.from_dict(overrides, source="-p").to_dict()


def list_notebooks(notebooks_dir: str | Path, notebooks: Optional[list[str]] = None) -> list[Path]:
    """The notebooks to run, in order: ``notebooks`` (names or paths), or every ``NN_*.ipynb``."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise VtkitError("notebooks folder not found", path=folder)
    if notebooks is None:
        paths = sorted(p for p in folder.glob(NOTEBOOK_PATTERN) if not p.name.endswith(".failed.ipynb"))
        if not paths:
            raise VtkitError(f"no notebooks matching {NOTEBOOK_PATTERN}", path=folder)
        return [p.resolve() for p in paths]
    paths = [Path(n) if Path(n).is_absolute() else folder / n for n in notebooks]
    for p in paths:
        if not p.is_file():
            raise VtkitError("notebook not found", path=p)
    return [p.resolve() for p in paths]


def declared_parameters(notebook: Path) -> set[str]:
    """Names the notebook's ``parameters`` cell assigns."""
    import papermill

    try:
        return set(papermill.inspect_notebook(str(notebook)))
    except Exception as err:  # malformed JSON, unreadable file...
        raise VtkitError(f"cannot read notebook ({type(err).__name__}: {err})", path=notebook) from None


# ---------------------------------------------------------------------------------------------
# run record


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, Optional[str]]:
    from importlib import metadata

    versions: dict[str, Optional[str]] = {"python": platform.python_version(),
                                          "machine": f"{platform.system()} {platform.machine()}"}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(folder: str | Path) -> Optional[dict[str, Any]]:
    """``{"commit", "dirty"}`` of the checkout holding ``folder``; None outside git."""
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain")  # ignored files (run outputs) do not count
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _comparable(params: dict[str, Any]) -> dict[str, Any]:
    # JSON round trip, so a recorded run compares equal to the same parameters in memory.
    return json.loads(json.dumps(params))


def _is_relative_file(path: Any) -> bool:
    parts = path.split("/") if isinstance(path, str) else []
    return bool(parts) and all(p not in ("", ".", "..") for p in parts) and "\\" not in path


def _record_problem(record: Any) -> Optional[str]:
    """Why ``record`` is not a run.json the kit wrote (checked field by field), or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    marked = record.get("tool") == RUN_TOOL
    if "tool" in record and not marked:
        return f"tool: {describe(record['tool'])}, not {RUN_TOOL!r}"
    if type(record.get("format")) is not int or record["format"] != RUN_FORMAT:
        return f"format: {describe(record.get('format'))}, expected {RUN_FORMAT}"
    for key in ("parameters", "versions"):
        if not isinstance(record.get(key), dict):
            return f"{key}: missing or not an object"
    if not isinstance(record.get("started"), (str, type(None))):
        return f"started: {describe(record['started'])}"
    notebooks = record.get("notebooks")
    if not isinstance(notebooks, list):
        return "notebooks: missing or not a list"
    for i, entry in enumerate(notebooks):
        seconds = entry.get("seconds") if isinstance(entry, dict) else None
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("status"), str)
                and (seconds is None or (type(seconds) in (int, float) and 0 <= seconds < float("inf")))):
            return f"notebooks[{i}]: expected {{name, status, seconds}}, got {describe(entry)}"
    if marked:
        outputs = record.get("outputs")
        if not isinstance(outputs, list) or not all(_is_relative_file(p) for p in outputs):
            return "outputs: not a list of file paths inside the run folder"
    return None


def read_run_record(run_json: Path) -> dict[str, Any]:
    """An earlier run's ``run.json``, checked to be the kit's own record (it is read as untrusted)."""
    if run_json.is_symlink():
        raise VtkitError("is a symbolic link, not a vtkit run record", path=run_json)
    record = read_json(run_json, "run record")
    problem = _record_problem(record)
    if problem:
        raise VtkitError(f"not a vtkit run record ({problem})", path=run_json)
    return record


def _run_files(run_dir: Path) -> set[str]:
    """Relative paths of the regular files under ``run_dir`` (symbolic links and temp files aside)."""
    found = set()
    for folder, dirs, files in os.walk(run_dir):
        for name in files:
            path = Path(folder, name)
            if not (name.startswith(".") and name.endswith(".tmp")) and path.is_file() and not path.is_symlink():
                found.add(path.relative_to(run_dir).as_posix())
    return found


def _kit_files(record: dict[str, Any], files: set[str]) -> set[str]:
    """Those of ``files`` that the run of ``record`` wrote: its list, or (older records) the kit's known outputs."""
    if record.get("tool") == RUN_TOOL:
        return files & set(record["outputs"])
    return {f for f in files
            if any(fnmatch.fnmatchcase(f, pattern) and f.count("/") == pattern.count("/") for pattern in KIT_OUTPUTS)}


def _prepare_run_dir(run_dir: Path, protected: list[Path], replace: bool, echo: bool) -> set[str]:
    """Check (and with ``replace`` clear) the run folder; returns the files in it vtkit did not write.

    An empty or missing folder is ready. A non-empty one must hold the kit's own ``run.json``;
    replacing deletes only the earlier run's files and names what is kept.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise VtkitError("the run folder is a file; choose a folder for --out", path=run_dir)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return set()
    run_json = run_dir / RUN_RECORD
    if not (run_json.is_file() or run_json.is_symlink()):
        raise VtkitError("the folder is not empty and holds no vtkit run (run.json); choose an empty or new --out",
                         path=run_dir)
    record = read_run_record(run_json)
    files = _run_files(run_dir)
    kit = _kit_files(record, files)
    if replace:
        if any(p == run_dir.resolve() or run_dir.resolve() in p.parents for p in protected):
            raise VtkitError("the run folder holds the notebooks or the current folder; choose another --out",
                             path=run_dir)
        _echo(echo, f"replacing the earlier run in {run_dir}")
        for name in sorted(kit):
            (run_dir / name).unlink(missing_ok=True)
        for name in sorted({str(Path(n).parent) for n in kit if "/" in n}, key=len, reverse=True):
            with contextlib.suppress(OSError):  # a folder the run made, unless something else is in it
                (run_dir / name).rmdir()
        foreign = sorted(files - kit)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            _echo(echo, f"kept {len(foreign)} file(s) in {run_dir} that vtkit did not write: {shown}")
    return files - kit


def _save_record(run_json: Path, record: dict[str, Any], foreign: set[str], *also: str) -> None:
    """Write ``run.json`` with the list of files the run has written so far (plus ``also``)."""
    record["outputs"] = sorted((_run_files(run_json.parent) - foreign) | {RUN_RECORD, *also})
    write_json(run_json, record)


def _resume_record(run_json: Path, params: dict[str, Any]) -> Optional[dict[str, Any]]:
    if not (run_json.is_file() or run_json.is_symlink()):
        return None
    record = read_run_record(run_json)
    old = record["parameters"]
    new = _comparable(params)
    changed = sorted(k for k in set(old) | set(new) if old.get(k, "<unset>") != new.get(k, "<unset>"))
    if changed:
        diff = ", ".join(f"{k}: {describe(old.get(k, '<unset>'))} -> {describe(new.get(k, '<unset>'))}"
                         for k in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise VtkitError(f"cannot resume: parameters differ from the recorded run ({diff}{more}); "
                         "rerun without --resume or choose another --out", path=run_json)
    return record


# ---------------------------------------------------------------------------------------------
# vtkit run


def run_notebooks(params: dict[str, Any] | Config, out_dir: str | Path | None = None,
                  notebooks_dir: str | Path = "notebooks", resume: bool = False,
                  notebooks: Optional[list[str]] = None, echo: bool = True) -> RunResult:
    """Execute the notebooks in order into ``out_dir`` and write ``run.json`` and ``report.html``.

    ``params``: parameter overrides (or a Config), validated before anything runs; ``out_dir``
    (default: the ``out_dir`` parameter) becomes the notebooks' ``out_dir``. Raises
    :class:`NotebookError` naming the kept executed notebook when one fails.
    """
    cfg = resolve_config(params, out_dir)
    paths = list_notebooks(notebooks_dir, notebooks)
    declared = {p: declared_parameters(p) for p in paths}
    if any(names & {"video_root", "train_annotations"} for names in declared.values()):
        preflight(cfg)
    run_dir = Path(cfg.out_dir)
    nb_dir = paths[0].parent
    if any(run_dir == p.parent for p in paths):
        raise VtkitError("the run folder must not be the notebooks folder", path=run_dir)
    parameters = cfg.to_dict()
    run_json = run_dir / RUN_RECORD
    previous = _resume_record(run_json, parameters) if resume else None
    done_before = {e["name"]: e for e in (previous or {}).get("notebooks", [])
                   if e["status"] == "done" and _is_relative_file(e["name"]) and (run_dir / e["name"]).is_file()}
    # a full rerun replaces the earlier run: no stale results may mix in
    foreign = _prepare_run_dir(run_dir, [nb_dir.resolve(), Path.cwd().resolve()],
                               replace=not resume and notebooks is None, echo=echo)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VtkitError(f"cannot create the run folder ({err.strerror})", path=run_dir) from None
    for stale in run_dir.glob(".*.tmp"):  # left by a run that was killed mid-write
        stale.unlink()
    record = {
        "tool": RUN_TOOL,
        "format": RUN_FORMAT,
        "status": "running",
        "started": (previous or {}).get("started") or _now(),
        "finished": None,
        "notebooks_dir": str(nb_dir),
        "parameters": parameters,
        "versions": package_versions(),
        "git": git_state(nb_dir),
        "resumed": bool(done_before),
        "notebooks": [done_before.get(p.name) or {"name": p.name, "status": "pending", "seconds": None}
                      for p in paths],
        "report": None,
        "outputs": [],
    }
    _save_record(run_json, record, foreign)
    # The runner's own outputs from an earlier run with other parameters must not linger.
    stale = [run_dir / "report.html"] + [run_dir / f"{p.stem}.failed.ipynb" for p in paths]
    stale += [run_dir / p.name for p in paths if p.name not in done_before]
    for path in stale:
        if path.name not in foreign:
            path.unlink(missing_ok=True)

    result = RunResult(run_dir=run_dir, config=cfg, report=run_dir / "report.html")

    def save(*also: str) -> None:
        _save_record(run_json, record, foreign, *also)

    with _batch_environment():
        _run_each(paths, record, save, run_dir, nb_dir, parameters, declared, done_before, result, echo)
    result.seconds = {e["name"]: e["seconds"] for e in record["notebooks"]}
    record.update(status="done", finished=_now(), report="report.html")
    save("report.html")
    write_report(run_dir)
    return result


@contextlib.contextmanager
def _batch_environment():
    """Kernels started here see VTKIT_INTERACTIVE=0 (no front end: explorers draw static figures)."""
    before = os.environ.get("VTKIT_INTERACTIVE")
    os.environ["VTKIT_INTERACTIVE"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VTKIT_INTERACTIVE", None)
        else:
            os.environ["VTKIT_INTERACTIVE"] = before


def _run_each(paths, record, save, run_dir, nb_dir, parameters, declared, done_before, result, echo) -> None:
    for i, (path, entry) in enumerate(zip(paths, record["notebooks"]), 1):
        label = f"[{i}/{len(paths)}] {path.name}"
        if path.name in done_before:
            result.skipped.append(path.name)
            _echo(echo, f"{label}: done earlier, skipped")
            continue
        entry.update(status="running", started=_now(), seconds=None, error=None)
        save()
        _echo(echo, f"{label} ...", end="", flush=True)
        start = time.perf_counter()
        try:
            _execute(path, run_dir, {k: v for k, v in parameters.items() if k in declared[path]}, nb_dir)
        except NotebookError as err:
            entry.update(status="failed", seconds=round(time.perf_counter() - start, 3), error=str(err))
            record.update(status="failed", finished=_now())
            save()
            _echo(echo, f" failed after {entry['seconds']:.1f} s")
            raise
        except BaseException:  # Ctrl-C: the record says so, then the interrupt goes on
            entry.update(status="interrupted", seconds=round(time.perf_counter() - start, 3))
            record.update(status="interrupted", finished=_now())
            save()
            raise
        entry.update(status="done", seconds=round(time.perf_counter() - start, 3), finished=_now())
        save()
        result.executed.append(path.name)
        _echo(echo, f" {entry['seconds']:.1f} s")


def _echo(enabled: bool, text: str, **kwargs) -> None:
    if enabled:
        print(text, **kwargs)


def _execute(notebook: Path, run_dir: Path, parameters: dict[str, Any], cwd: Path) -> None:
    """Run one notebook into ``run_dir/<name>`` atomically; on error keep it as ``<stem>.failed.ipynb``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    failed = run_dir / f"{notebook.stem}.failed.ipynb"
    with atomic_path(run_dir / notebook.name) as tmp:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The specified file")  # the temp name ends in .tmp
                papermill.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name=KERNEL_NAME,
                                           cwd=str(cwd), progress_bar=False, log_output=False,
                                           extra_arguments=KERNEL_ARGUMENTS)
        except PapermillExecutionError as err:
            _keep(tmp, failed)
            raise NotebookError(f"In [{err.exec_count}]: {err.ename}: {err.evalue}", path=failed,
                                notebook=notebook.name) from None
        except Exception as err:  # kernel died or could not start, cell timeout, ...
            _keep(tmp, failed)
            text = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise NotebookError(f"{type(err).__name__}: {text}", path=failed, notebook=notebook.name) from None


def _keep(tmp: Path, failed: Path) -> None:
    if tmp.exists() and tmp.stat().st_size > 0:
        os.chmod(tmp, 0o644)  # the temp file was made private; the kept notebook is for reading
        os.replace(tmp, failed)


# ---------------------------------------------------------------------------------------------
# vtkit sweep


@dataclass
class SweepPoint:
    values: dict[str, Any]        # the varied parameters
    params: dict[str, Any]        # full parameters of the point
    name: str
    status: str = "pending"
    error: Optional[str] = None
    metrics: Optional[dict[str, Any]] = None


def load_grid(path: str | Path) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``(grid, base params)`` from ``{grid: {name: [values]}, params: {...}}`` or a flat ``{name: [values]}``."""
    path = Path(path)
    data = read_yaml_mapping(path, "a mapping {grid: {name: [values]}, params: {...}}")
    if "grid" in data:
        extra = sorted(set(data) - {"grid", "params"})
        if extra:
            raise VtkitError(f"unexpected key(s) {', '.join(map(str, extra))}; expected grid and params", path=path)
        grid, base = data["grid"], data.get("params") or {}
    else:
        grid, base = data, {}
    if not isinstance(grid, dict) or not grid:
        raise VtkitError("expected a non-empty mapping of parameter names to lists of values", path=path, field="grid")
    if not isinstance(base, dict):
        raise VtkitError("expected a mapping of parameter names to values", path=path, field="params")
    grid = {str(k): (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in grid.items()}
    for name, values in grid.items():
        if not values:
            raise VtkitError("empty list of values", path=path, field=name)
    return grid, base


def point_name(values: dict[str, Any]) -> str:
    """Folder name of a grid point, e.g. ``negative_ratio=2__aligner=dp``."""
    text = "__".join(f"{k}={v}" for k, v in values.items())
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", text)


def sweep_points(grid: dict[str, list[Any]], base: dict[str, Any]) -> list[SweepPoint]:
    """Every combination of the grid over ``base``, each validated (one line on the first bad point)."""
    points = []
    for combo in itertools.product(*grid.values()):
        values = dict(zip(grid, combo))
        name = point_name(values)
        params = Config.from_dict({**base, **values}, source=f"grid point {name}").to_dict()
        points.append(SweepPoint(values=values, params=params, name=name))
    if len({p.name for p in points}) < len(points):
        raise VtkitError("two grid points map to the same folder name; list each value once", field="grid")
    return points


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    flat = {f"{a}/{m}": v for a, scores in (metrics.get("aligners") or {}).items() if isinstance(scores, dict)
            for m, v in scores.items()}
    flat.update(other_metrics(metrics))
    return flat


def sweep_rows(points: list[SweepPoint]) -> list[dict[str, Any]]:
    rows = []
    for p in points:
        row = {**p.values, "status": p.status, "run": p.name}
        for key, value in _flat_metrics(p.metrics or {}).items():
            row[f"metrics/{key}" if key in row else key] = value  # never hide a varied parameter
        row["error"] = p.error or ""
        rows.append(row)
    return rows


def write_sweep_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_sweep_plot(path: Path, points: list[SweepPoint], metric: str = SWEEP_METRIC) -> Path:
    """Bar plot of ``metric`` (percent) per grid point; hue = aligner."""
    import pandas as pd
    import seaborn as sns

    from vtkit.plots import FULL_WIDTH, aligner_colors, new_figure, save_figure

    varies_aligner = any("aligner" in p.values for p in points)
    data = []
    for p in points:
        aligners = (p.metrics or {}).get("aligners") or {}
        if varies_aligner:  # the point's own aligner only, so points differing by aligner share an x
            chosen = p.params["aligner"]
            aligners = {chosen: aligners[chosen]} if chosen in aligners else {}
        label = point_name({k: v for k, v in p.values.items() if not (varies_aligner and k == "aligner")}) or "all"
        for aligner, scores in aligners.items():
            if isinstance(scores, dict) and isinstance(scores.get(metric), (int, float)):
                data.append({"point": label, "aligner": aligner, metric: 100 * scores[metric]})
    fig, ax = new_figure(figsize=(FULL_WIDTH, 3.0))
    if data:
        frame = pd.DataFrame(data)
        sns.barplot(data=frame, x="point", y=metric, hue="aligner", errorbar=None, ax=ax,
                    palette=aligner_colors(frame["aligner"].unique()))
        ax.set_ylabel(f"{metric} on val (%)")
        ax.set_xlabel("")
        for label in ax.get_xticklabels():
            label.set_rotation(20)
            label.set_horizontalalignment("right")
        if ax.get_legend() is not None:   # below the bars, not over them
            handles, labels = ax.get_legend_handles_labels()
            ax.get_legend().remove()
            fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    else:
        ax.text(0.5, 0.5, f"no {metric} from any point", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"sweep: {metric} on val per grid point (choose by the selection split, sweep.csv)")
    return save_figure(fig, path)


def _text_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def run_sweep(grid: dict[str, list[Any]], base: dict[str, Any], out_dir: str | Path,
              notebooks_dir: str | Path = "notebooks", echo: bool = True) -> list[SweepPoint]:
    """One :func:`run_notebooks` per grid point into ``out_dir/<point>``; then sweep.csv and sweep.png."""
    points = sweep_points(grid, base)
    out_dir = Path(out_dir).resolve()
    for p in points:  # every point is checked before the first notebook runs
        resolve_config(p.params, out_dir / p.name)
    list_notebooks(notebooks_dir)
    for i, p in enumerate(points, 1):
        _echo(echo, f"== point {i}/{len(points)}: {p.name}")
        try:
            run_notebooks(p.params, out_dir / p.name, notebooks_dir=notebooks_dir, echo=echo)
        except VtkitError as err:
            p.status, p.error = "failed", str(err)
            _echo(echo, f"point {p.name} failed: {err}")
            continue
        p.status = "done"
        metrics_path = out_dir / p.name / "metrics.json"
        p.metrics = read_metrics(metrics_path) if metrics_path.exists() else None
    rows = sweep_rows(points)
    write_sweep_csv(out_dir / "sweep.csv", rows)
    write_sweep_plot(out_dir / "sweep.png", points)
    if echo:
        seen = list(dict.fromkeys(k for r in rows for k in r))
        metric_cols = [c for c in seen if c.endswith(f"/{SWEEP_METRIC}") and not c.startswith("by_level/")]
        chosen = [c for c in (SELECTION_COLUMN,) if c in seen]   # what a choice between points may use
        print(_text_table(rows, [*grid, "status", *chosen, *metric_cols]))
        if chosen:
            print(f"choose between points by {SELECTION_COLUMN} (the selection split); the other columns are "
                  "the reported split")
    return points


# ---------------------------------------------------------------------------------------------
# command line


def _add_param_args(parser: argparse.ArgumentParser, params_help: str) -> None:
    parser.add_argument("--params", metavar="FILE.yaml", help=params_help)
    parser.add_argument("-p", dest="pairs", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter (repeatable), e.g. -p aligner=dfs")
    parser.add_argument("--notebooks", default="notebooks", metavar="DIR",
                        help="folder of the numbered notebooks NN_*.ipynb (default: notebooks)")


def cli_run(argv: list[str]) -> int:
    parser = ArgumentParser(prog="vtkit run", description="Execute the notebooks in order into a run "
                                     "folder, with run.json and a self-contained report.html.")
    _add_param_args(parser, "YAML mapping of parameter names to values")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: the out_dir parameter)")
    parser.add_argument("--resume", action="store_true",
                        help="skip notebooks already done in this run folder with the same parameters")
    parser.add_argument("--publish", metavar="README", help="also write the results table into this README "
                        "(between its results markers) and copy figures/overview.png to reports/figures/")
    args = parser.parse_args(argv)
    if args.resume and args.out and not args.params and not args.pairs:  # the recorded run's own parameters
        run_json = Path(args.out) / RUN_RECORD
        recorded = read_run_record(run_json)["parameters"]
        params = Config.from_dict(recorded, source=str(run_json)).to_dict()
    else:
        params = load_params(args.params, args.pairs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # recorded in run.json as interrupted
    try:
        result = run_notebooks(params, args.out, notebooks_dir=args.notebooks, resume=args.resume)
    except NotebookError as err:
        print(f"vtkit run: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        raise VtkitError(f"{type(err).__name__}: {err}") from None
    print(f"report: {result.report}")
    if args.publish:
        print(f"results written into {publish(result.run_dir, args.publish, Path(args.publish).parent / 'reports' / 'figures')}")
    return 0


def cli_sweep(argv: list[str]) -> int:
    parser = ArgumentParser(prog="vtkit sweep", description="Run the notebooks once per point of a "
                                     "parameter grid; write sweep.csv and sweep.png.")
    parser.add_argument("--grid", required=True, metavar="FILE.yaml",
                        help="{grid: {name: [values, ...]}, params: {...}} or a flat {name: [values]}")
    _add_param_args(parser, "YAML base parameters (below the grid file's params and -p)")
    parser.add_argument("--out", metavar="DIR", help="sweep folder (default: reports/sweep_<grid file name>)")
    args = parser.parse_args(argv)
    grid, grid_base = load_grid(args.grid)
    base = load_params(args.params, []) if args.params else {}
    base.update(grid_base)
    base.update(parse_overrides(args.pairs))
    out = args.out or f"reports/sweep_{Path(args.grid).stem}"
    try:
        points = run_sweep(grid, base, out, notebooks_dir=args.notebooks)
    except OSError as err:
        raise VtkitError(f"{type(err).__name__}: {err}") from None
    failed = [p.name for p in points if p.status != "done"]
    print(f"sweep: {Path(out).resolve() / 'sweep.csv'}")
    if failed:
        print(f"vtkit sweep: error: {len(failed)} of {len(points)} point(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0
