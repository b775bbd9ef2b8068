"""One table of ``vtkit sweep`` points against a baseline: which value the selection split prefers.

    python bench/sweep_table.py [--level 0.95] BASELINE [LABEL=]SWEEP_DIR [[LABEL=]SWEEP_DIR ...]

BASELINE is the defaults' run folder, or a sweep folder whose points are the defaults on several
selection folds (``{grid: {selection_fold: [0, 1, 2]}}``). A sweep may be given as ``DIR+DIR``
(one grid run again over other folds: their runs pooled) and ``@POINT`` keeps one of its points,
so a grid that holds the defaults as one point can be its own baseline (``DIR@train_levels=both``).
Each row is a sweep point: one varied parameter, the others at the baseline's values, pooled over
its selection folds (runs that differ only in ``selection_fold``). Per row: the number of folds; the selection split's R1@0.3 with the
choices applied (``training.json`` ``selection_hits``, pooled over the folds' held-out videos: what
a choice may look at); its gain over the baseline with a paired bootstrap interval over the
(fold, video) pairs both ran on; the best epoch and chosen substep mode and background per fold (the steps'
and, where chosen apart, the substeps' background, e.g. ``h50/80``); then
the reported split's dp R1@0.3 over all queries, steps and substeps, averaged over the folds
(``metrics.json``, shown only to report). A point is marked ``*`` where the whole interval lies
above zero. Below the table, for each point that tried every substep mode (``substep_mode=best``):
each mode pooled over its folds at each fold's best background (``selection_mode_hits``), with its
gain over the default mode on the same (fold, video) pairs and the same kind of interval. A
baseline recorded without per-mode hits (older runs) shows each mode's pooled score only.

``LABEL=SWEEP_DIR`` names its points ``LABEL`` (one point) or ``LABEL: point``: for a sweep whose
grid varies only the folds, run with other code than the baseline's.
"""
import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vtkit.align import DEFAULT_SUBSTEP_MODE  # noqa: E402
from vtkit.errors import VtkitError  # noqa: E402
from vtkit.io import read_json  # noqa: E402

COLUMNS = ("folds", "selection R1@0.3", "gain [interval]", "best epochs", "chosen mode/bg",
           "val R1@0.3", "val steps", "val substeps")
FOLD = "selection_fold"
RESAMPLES = 2000


class Run:
    """One run folder's records: selection hits per video, choices, val metrics."""

    def __init__(self, folder: Path, fold: int):
        training = read_json(folder / "training.json", "training record")
        metrics = read_json(folder / "metrics.json", "metrics")
        self.fold = fold
        self.hits = {uid: tuple(h) for uid, h in (training.get("selection_hits") or {}).items()}
        self.mode_hits = {mode: {uid: tuple(h) for uid, h in per_video.items()}
                          for mode, per_video in (training.get("selection_mode_hits") or {}).items()}
        self.best_metric = training.get("best_metric")
        self.best_epoch = training.get("best_epoch")
        self.choices = training.get("choices") or {}
        self.table = training.get("selection_table") or {}
        levels = metrics.get("by_level", {}).get("dp", {})
        self.val = (metrics["aligners"]["dp"]["R1@0.3"], levels.get("step", {}).get("R1@0.3"),
                    levels.get("substep", {}).get("R1@0.3"))

def _fold_of(folder: Path) -> int:
    run = folder / "run.json"
    return int(read_json(run, "run record").get("parameters", {}).get(FOLD, 0)) if run.exists() else 0


def sweep_groups(spec) -> list[tuple[str, list[Run]]]:
    """``[(point name, its runs over the selection folds)]`` of a sweep's finished points (``sweep.csv``).

    ``spec`` is a sweep folder, or ``DIR+DIR...`` (sweeps of one grid over other folds, pooled), with an
    optional ``@POINT`` that keeps one point (its name as printed, e.g. ``train_levels=both``).
    """
    folders, point = parse_spec(spec)
    groups = defaultdict(list)
    for folder in folders:
        path = folder / "sweep.csv"
        if not path.exists():
            raise VtkitError("no sweep.csv here: is this a vtkit sweep folder?", path=path)
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        columns = list(rows[0]) if rows else []
        varied = [k for k in columns[:columns.index("status")] if k != FOLD] if "status" in columns else []
        for row in rows:
            if row["status"] != "done":
                continue
            name = "__".join(f"{k}={row[k]}" for k in varied) or "defaults"
            groups[name].append(Run(folder / row["run"], int(row.get(FOLD) or 0)))
    if point and point not in groups:
        raise VtkitError(f"no point {point!r} here; the points: {', '.join(groups) or 'none'}", path=folders[0])
    return [(point, groups[point])] if point else list(groups.items())


def parse_spec(spec) -> tuple[list[Path], str]:
    """``([folders], point)`` of ``DIR[+DIR...][@POINT]`` (point ``""`` when not given)."""
    folders, _, point = str(spec).partition("@")
    return [Path(f) for f in folders.split("+")], point


def labelled(arg: str) -> tuple[str | None, str]:
    """``(label, sweep spec)`` of a ``LABEL=SWEEP_DIR`` argument; a plain folder has no label."""
    label, sep, folder = arg.partition("=")
    if sep and "/" not in label and "@" not in label and not Path(arg).exists():
        return label, folder
    return None, arg


def baseline_runs(spec: str) -> list[Run]:
    folders, point = parse_spec(spec)
    if point or len(folders) > 1 or (folders[0] / "sweep.csv").exists():
        return [run for _, runs in sweep_groups(spec) for run in runs]
    return [Run(folders[0], _fold_of(folders[0]))]


def pooled(runs: list[Run]) -> float | None:
    """Selection R1@0.3 over the runs' held-out videos; without per-video hits, the mean best metric."""
    hits = [h for run in runs for h in run.hits.values()]
    if hits:
        return sum(h for h, _ in hits) / sum(n for _, n in hits)
    scores = [run.best_metric for run in runs if run.best_metric is not None]
    return float(np.mean(scores)) if scores else None


def paired_gain(runs: list[Run], base: list[Run], level: float, seed: int = 0) -> tuple[float, float, float] | None:
    """Gain in pooled selection R1@0.3 over the baseline on the (fold, video) pairs both scored, with a
    bootstrap interval over those pairs; None without per-video hits."""
    return _paired({(run.fold, uid): h for run in runs for uid, h in run.hits.items()},
                   {(run.fold, uid): h for run in base for uid, h in run.hits.items()}, level, seed)


def _paired(ours: dict, theirs: dict, level: float, seed: int) -> tuple[float, float, float] | None:
    """``(gain, low, high)`` of ``ours`` over ``theirs`` ({(fold, uid): (hits, queries)}) on their shared keys."""
    pairs = [(h[0], theirs[key][0], h[1]) for key, h in ours.items() if key in theirs]
    if not pairs:
        return None
    mine, other, n = (np.array(col, float) for col in zip(*pairs))
    gain = (mine.sum() - other.sum()) / n.sum()
    pick = np.random.default_rng(seed).integers(0, len(n), size=(RESAMPLES, len(n)))
    draws = ((mine[pick] - other[pick]).sum(axis=1)) / n[pick].sum(axis=1)
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(gain), float(low), float(high)


def mode_line(name: str, runs: list[Run], level: float) -> str | None:
    """Each substep mode of a point that tried them all, against the default mode, on the same pairs."""
    if not runs or not all(run.mode_hits for run in runs):
        return None
    by_mode = defaultdict(dict)
    for run in runs:
        for mode, per_video in run.mode_hits.items():
            by_mode[mode].update({(run.fold, uid): h for uid, h in per_video.items()})
    reference = by_mode.get(DEFAULT_SUBSTEP_MODE)
    cells = []
    for mode, hits in sorted(by_mode.items(), key=lambda kv: -sum(h for h, _ in kv[1].values())):
        cell = f"{mode} {pct(sum(h for h, _ in hits.values()) / sum(n for _, n in hits.values()))}"
        gain = _paired(hits, reference, level, 0) if reference is not None and mode != DEFAULT_SUBSTEP_MODE else None
        if gain is not None:
            cell += f" {100 * gain[0]:+.2f} [{100 * gain[1]:+.2f}, {100 * gain[2]:+.2f}]"
        cells.append(cell)
    return (f"substep modes at {name} (each at its best background; gain over {DEFAULT_SUBSTEP_MODE}): "
            + "; ".join(cells))


def mode_table(runs: list[Run]) -> dict[str, float]:
    """Pooled selection R1@0.3 of each substep mode over the folds, each fold at its best background."""
    per_mode = defaultdict(lambda: [0.0, 0])
    for run in runs:
        queries = sum(n for _, n in run.hits.values())
        best = defaultdict(float)
        for key, value in run.table.items():
            mode = key.split("/")[0]
            best[mode] = max(best[mode], value)
        for mode, value in best.items():
            per_mode[mode][0] += value * queries
            per_mode[mode][1] += queries
    return {mode: total / count for mode, (total, count) in per_mode.items() if count}


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def row_cells(runs: list[Run], gain: tuple[float, float, float] | None) -> list[str]:
    runs = sorted(runs, key=lambda r: r.fold)
    choices = ",".join(f"{str(r.choices.get('substep_mode', '-'))[:1]}{r.choices.get('background_value', 0):g}"
                       + (f"/{r.choices['substep_background_value']:g}"
                          if r.choices.get("substep_background_value") is not None else "")
                       for r in runs)
    val = [np.mean([r.val[i] for r in runs]) if all(r.val[i] is not None for r in runs) else None for i in range(3)]
    return [str(len(runs)), pct(pooled(runs)),
            "-" if gain is None else f"{100 * gain[0]:+.2f} [{100 * gain[1]:+.2f}, {100 * gain[2]:+.2f}]",
            ",".join(str(r.best_epoch) for r in runs), choices, *map(pct, val)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", type=float, default=0.95, help="bootstrap interval's coverage (default 0.95)")
    parser.add_argument("baseline", help="run folder of the defaults, or a sweep over its folds (DIR[+DIR...][@POINT])")
    parser.add_argument("sweeps", type=labelled, nargs="+", metavar="[LABEL=]SWEEP_DIR",
                        help="vtkit sweep folders, each optionally labelled")
    args = parser.parse_args(argv)
    base = baseline_runs(args.baseline)
    rows = [("defaults (baseline)", row_cells(base, None), "")]
    modes = [mode_line("the baseline", base, args.level)]
    for label, folder in args.sweeps:
        groups = sweep_groups(folder)
        for name, runs in groups:
            name = name if label is None else label if len(groups) == 1 else f"{label}: {name}"
            gain = paired_gain(runs, base, args.level)
            rows.append((name, row_cells(runs, gain), "*" if gain is not None and gain[1] > 0 else ""))
            modes.append(mode_line(name, runs, args.level))
    width = max(len(name) for name, _, _ in rows) + 3
    widths = [max(len(c), *(len(cells[i]) for _, cells, _ in rows)) + 2 for i, c in enumerate(COLUMNS)]
    print(f"{'point':<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths)))
    for name, cells, mark in rows:
        print(f"{name + ' ' + mark:<{width}}" + "".join(f"{v:>{w}}" for v, w in zip(cells, widths)))
    print(f"R1@0.3 in percent; selection = held-out train videos pooled over the folds; gain = over the baseline on "
          f"the same (fold, video) pairs, [{100 * args.level:g} % paired bootstrap interval]; * = the interval lies "
          f"above 0; mode/bg per fold (j/h/p/v = joint/hierarchical/parent/video); val = the reported split, mean over "
          f"the folds, chooses nothing")
    for line in filter(None, modes):
        print(line)
    pooled_modes = mode_table(base)
    if not modes[0] and len(pooled_modes) > 1:
        print("substep mode on the baseline's selection folds (each at its best background): "
              + ", ".join(f"{m} {pct(v)}" for m, v in sorted(pooled_modes.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    from script import run

    run("sweep_table", main, sys.argv[1:])
