"""Speed of the whole pipeline (``vtkit run``, defaults) at GoalStep scale: 134 videos, 62 h, ~112k chunks.

Builds per-chunk features (``chunk_<i>.pt``) with the real annotation times from
``--goalstep DIR`` when present (else synthetic records of the same statistics), 80 train /
54 val videos, runs ``vtkit run`` of the repository ``--repo`` (its code and notebooks), and
prints per-notebook seconds (run.json), what the run reports about its phases (training.json,
history.csv, metrics.json), peak memory of the run's process tree, and the ratio against an
earlier result (``--before``). The run's caches (every ``*_cache_dir`` parameter: text embeddings,
packed features, ...) live under ``--work`` and start empty (``--warm-caches`` keeps them)::

    python bench/bench_scale.py --save /tmp/scale.json
    python bench/bench_scale.py --before /tmp/scale.json          # after a change
    cd OTHER_CHECKOUT && PYTHONPATH=. python /path/to/bench/bench_scale.py --repo . --save old.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import goalstep_sim as sim  # noqa: E402

from vtkit.errors import VtkitError  # noqa: E402
from vtkit.io import read_json, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = HERE.parent
DEFAULT_WORK = Path(os.environ.get("TMPDIR", "/tmp")) / "vtkit-bench"
TEST_VIDEOS = 54
COMPARED_TRAINING = ("seconds", "train_seconds", "pairs_per_second")
ALL_VIDEOS = 134


# --------------------------------------------------------------------------- running the kit


@dataclass
class KitRun:
    """One ``vtkit run`` in a child process: exit status, wall time, memory, and which kit ran."""

    out: Path
    returncode: int
    seconds: float
    peak_tree_rss_mb: float         # largest sum of RSS over the run's process tree (sampled every 0.2 s)
    max_process_rss_mb: float       # largest single descendant (getrusage RUSAGE_CHILDREN)
    vtkit_file: str
    output_tail: str = ""


def kit_environment(repo: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def kit_module_file(repo: Path) -> str:
    """``vtkit.__file__`` as a child with the run's environment sees it (which code ``vtkit run`` executes)."""
    return _ask_kit(repo, "import vtkit; print(vtkit.__file__)")


def kit_cache_parameters(repo: Path) -> list[str]:
    """The run parameters naming a cache folder (``*_cache_dir``) in that repository's kit."""
    names = _ask_kit(repo, "import json; from vtkit.config import Config; print(json.dumps(Config.names()))")
    return [n for n in json.loads(names) if n.endswith("_cache_dir")]


def _ask_kit(repo: Path, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, env=kit_environment(repo), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise VtkitError(f"cannot import the kit: {(done.stderr.strip().splitlines() or ['?'])[-1]}", path=repo)
    return done.stdout.strip()


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        for p in [proc] + proc.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def last_redraw(line: str) -> str:
    """What a terminal would show of an output line: a progress bar redraws itself after each ``\\r``."""
    shown = [part for part in line.rstrip("\n").split("\r") if part.strip()]
    return shown[-1].rstrip() if shown else ""


def run_kit(repo: Path, out: Path, params: dict, log=print) -> KitRun:
    """``python -m vtkit run --out OUT -p name=value ...`` with ``cwd=repo`` and ``repo`` first on PYTHONPATH."""
    repo = Path(repo).resolve()
    vtkit_file = kit_module_file(repo)
    if not Path(vtkit_file).resolve().is_relative_to(repo):
        raise VtkitError(f"the child imports vtkit from {vtkit_file}, not from the repository", path=repo)
    cmd = [sys.executable, "-m", "vtkit", "run", "--out", str(out)]
    for name, value in params.items():
        cmd += ["-p", f"{name}={value}"]
    log(f"vtkit run ({vtkit_file}): {' '.join(cmd[3:])}")
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, env=kit_environment(repo), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    stop = threading.Event()

    def sample():
        try:
            import psutil

            handle = psutil.Process(proc.pid)
        except Exception:  # psutil missing or the child already gone
            return
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _tree_rss(handle))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for raw in proc.stdout:
        line = last_redraw(raw.decode("utf-8", errors="replace"))
        lines.append(line + "\n")
        log("  | " + line)
    proc.wait()
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    max_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return KitRun(out, proc.returncode, round(seconds, 2), round(peak[0] / 2**20, 1), round(max_rss, 1),
                  vtkit_file, "".join(lines[-20:]))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# --------------------------------------------------------------------------- what a run reports


def _seconds_fields(obj, prefix="") -> dict:
    """Every number under a key naming a time (``seconds``, ``*_seconds``, ``*_s``, ``time``) in a JSON object."""
    found = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            timed = ("seconds" in str(key) or str(key).endswith("_s") or "time" in str(key)) and \
                str(key) != "chunk_seconds"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and timed:
                found[name] = value
            elif timed and isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
                found[f"{name} (sum of {len(value)})"] = round(sum(value), 3)   # per-epoch phases
            elif isinstance(value, (dict, list)):
                found.update(_seconds_fields(value, name))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.update(_seconds_fields(value, f"{prefix}[{i}]"))
    return found


def run_timings(out: Path) -> dict:
    """Per-notebook seconds (run.json), training totals (training.json), per-epoch seconds (history.csv,
    cumulative there), and any time the other files report."""
    timings: dict = {"notebooks": {}, "training": {}, "epochs": [], "reported": {}}
    run = read_json(out / "run.json", "run record")
    for nb in run.get("notebooks", []):
        timings["notebooks"][nb["name"].split("_")[0]] = nb.get("seconds")
    if (out / "training.json").is_file():
        training = read_json(out / "training.json", "training summary")
        phases = _seconds_fields(training.get("timings") or {})
        timings["reported"].update({f"training phase {k}": v for k, v in phases.items()})
        for key in ("seconds", "train_seconds", "pairs_per_second", "epochs", "best_epoch", "pairs"):
            if key in training:
                timings["training"][key] = training[key]
    if (out / "history.csv").is_file():
        with open(out / "history.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        previous = 0.0
        for row in rows:
            if row.get("seconds"):
                total = float(row["seconds"])
                timings["epochs"].append(round(total - previous, 3))
                previous = total
    for name in ("metrics.json", "data_summary.json"):
        if (out / name).is_file():
            found = _seconds_fields(read_json(out / name))
            timings["reported"].update({f"{name}:{k}": v for k, v in found.items()})
    if (out / "timings.json").is_file():   # evaluation: seconds of the similarities and of each aligner
        for model, phases in read_json(out / "timings.json", "timings").items():
            timings["reported"].update({f"evaluation {model} {phase}_s": v for phase, v in phases.items()})
    return timings


def flat_numbers(result: dict) -> dict[str, float]:
    """The comparable numbers of a saved result, by dotted name."""
    out = {"total_seconds": result["run"]["seconds"], "peak_tree_rss_mb": result["run"]["peak_tree_rss_mb"],
           "max_process_rss_mb": result["run"]["max_process_rss_mb"]}
    t = result["timings"]
    out.update({f"notebook {k}": v for k, v in t["notebooks"].items() if v is not None})
    out.update({f"training.{k}": v for k, v in t["training"].items() if k in COMPARED_TRAINING})
    if t["epochs"]:
        out["epoch 0 (setup + untrained validation)"] = t["epochs"][0]
        if len(t["epochs"]) > 1:
            out["epoch 1 (train + validation)"] = t["epochs"][1]
            rest = sorted(t["epochs"][1:])
            out["epoch median (train + validation)"] = rest[len(rest) // 2]
    out.update(t["reported"])
    return out


def read_result(source: str | Path) -> dict:
    """A saved result: the JSON file, or a folder holding ``scale.json``."""
    path = Path(source)
    return read_json(path / "scale.json" if path.is_dir() else path, "benchmark result")


def print_result(result: dict, before: dict | None = None) -> None:
    now = flat_numbers(result)
    old = flat_numbers(before) if before else {}
    header = f"{'measure':<44}{'now':>12}" + (f"{'before':>12}{'before/now':>12}" if before else "")
    print(header)
    print("-" * len(header))
    for name, value in now.items():
        line = f"{name:<44}{value:>12.4g}"
        if before and name in old and isinstance(old[name], (int, float)):
            ratio = old[name] / value if value else float("nan")
            line += f"{old[name]:>12.4g}{ratio:>12.2f}"
        print(line)
    epochs = ", ".join(f"{e:.1f}" for e in result["timings"]["epochs"])
    print(f"seconds per epoch (history.csv): {epochs}")
    training = result["timings"]["training"]
    legend = "seconds and MB (before/now > 1: now smaller); " if before else ""
    print(f"{legend}epochs run {training.get('epochs')} (best "
          f"{training.get('best_epoch')}); dp R1@0.3 {100 * result['metrics'].get('R1@0.3', float('nan')):.2f} "
          f"(all queries); load average {result['load']['before']} -> {result['load']['after']}")


# --------------------------------------------------------------------------- the data


def goalstep_records(goalstep: Path, max_videos: int | None, seed: int, log=print) -> tuple[list[dict], str]:
    """The records to simulate: the real val annotations when present, else synthetic ones."""
    path = goalstep / "goalstep_valid.json"
    if path.is_file():
        records, source = sim.load_goalstep_records(path), f"real annotations {path}"
    else:
        log(f"{path} not found: synthetic annotations of the same statistics")
        records, source = sim.synthetic_records(ALL_VIDEOS, seed), "synthetic annotations"
    if max_videos:
        records = sim.stratified_pick(records, max_videos, seed)
    return records, source


def simulated_data(records: list[dict], work: Path, seed: int, log=print) -> sim.SimData:
    n_test = max(1, round(len(records) * TEST_VIDEOS / ALL_VIDEOS))
    train, test = sim.split_records(records, n_test, seed)
    tag = f"sim{sim.SIM_VERSION}-{len(records)}-{seed}"
    return sim.build(work / tag, train, test, sim.SimConfig(seed=seed), text_cache=work / "minilm.npz", log=log)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--goalstep", type=Path, default=DEFAULT_REPO.parent / "shared" / "goalstep",
                        help="folder of goalstep_valid.json (default ../shared/goalstep of the repository)")
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO,
                        help="the kit checkout whose code and notebooks run (default: this script's repository)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="data and run folders (default %(default)s)")
    parser.add_argument("--max-videos", type=int, help="a stratified subset of the videos (quick runs)")
    parser.add_argument("--seed", type=int, default=0, help="simulation and split seed")
    parser.add_argument("--layout", choices=("chunks", "packed"),
                        help="feature layout the run reads (default: packed for quality, chunks for scale)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="passed to vtkit run (repeatable)")
    parser.add_argument("--save", type=Path, help="write the result as JSON")


def kit_params(repo: Path, data: sim.SimData, layout: str, extra: list[str], caches: Path,
               cold: bool = False) -> dict:
    """Parameters of the run: the simulated data, every cache folder the kit has (text, features, ...) under
    ``caches`` (emptied first when ``cold``), then the ``-p`` overrides (validated)."""
    from vtkit.config import Config, parse_overrides

    overrides = parse_overrides(extra)
    Config.from_dict(overrides, source="-p")
    if cold:
        shutil.rmtree(caches, ignore_errors=True)
    params = {"video_root": data.video_root(layout), "train_annotations": data.train, "val_annotations": data.test}
    params.update({name: caches / name for name in kit_cache_parameters(Path(repo).resolve())})
    params.update(overrides)
    return params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--before", help="an earlier result (JSON file, or a folder holding scale.json) to compare")
    parser.add_argument("--warm-caches", action="store_true",
                        help="keep the run's caches (text, features) from an earlier run (default: start cold)")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    load_before = load_average()
    records, source = goalstep_records(args.goalstep, args.max_videos, args.seed)
    t0 = time.perf_counter()
    data = simulated_data(records, work, args.seed)
    build_seconds = time.perf_counter() - t0
    layout = args.layout or "chunks"
    out = work / "scale-run"
    params = kit_params(args.repo, data, layout, args.param, work / "scale-caches", cold=not args.warm_caches)
    run = run_kit(args.repo, out, params)
    if run.returncode != 0:
        print(f"vtkit run failed (exit {run.returncode}):\n{run.output_tail}", file=sys.stderr)
        return 1
    metrics = read_json(out / "metrics.json", "metrics")
    result = {"bench": "scale", "format": 1, "source": source, "layout": layout,
              "data": {"videos": data.videos, "chunks": data.chunks_total,
                       "hours": round(data.chunks_total * sim.SimConfig().chunk_seconds / 3600, 2),
                       "build_seconds": round(build_seconds, 1)},
              "params": {k: str(v) for k, v in params.items()},
              "git": read_json(out / "run.json").get("git"),
              "notebooks_dir": read_json(out / "run.json").get("notebooks_dir"),
              "run": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(run).items() if k != "output_tail"},
              "timings": run_timings(out), "metrics": metrics.get("aligners", {}).get("dp", {}),
              "load": {"before": load_before, "after": load_average()}}
    before = read_result(args.before) if args.before else None
    print(f"\n{data.videos} videos, {data.chunks_total} chunks ({result['data']['hours']} h of features), "
          f"layout {layout}; vtkit from {run.vtkit_file}")
    print_result(result, before)
    if args.save:
        write_json(args.save, result)
        print(f"saved {args.save}")
    return 0


if __name__ == "__main__":
    from script import run

    run("bench_scale", main)
