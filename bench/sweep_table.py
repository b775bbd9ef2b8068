"""One table of ``vtkit sweep`` folders against a baseline run: which value the selection split prefers.

    python bench/sweep_table.py [--margin 0.01] BASELINE_RUN SWEEP_DIR [SWEEP_DIR ...]

Each row is a sweep point (one varied parameter, the others at the baseline's values), read from
its run folder: the selection split's R1@0.3 at the best epoch (``training.json``, what a choice
may look at), the best epoch, what the selection split chose (substep mode, background percentile),
then the reported split's dp R1@0.3 over all queries, steps and substeps (``metrics.json``, shown
only to report). A point is marked ``*`` where it beats the baseline on the selection split by more
than ``--margin`` (default 0.01: one point of R1@0.3, about 8 queries of a 12-video selection split;
smaller differences are within its noise).
"""
import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vtkit.io import read_json  # noqa: E402

COLUMNS = ("selection R1@0.3", "best epoch", "chosen mode/bg", "val R1@0.3", "val steps", "val substeps")


def run_row(run: Path) -> tuple:
    training = read_json(run / "training.json", "training record")
    metrics = read_json(run / "metrics.json", "metrics")
    choices = training.get("choices") or {}
    levels = metrics.get("by_level", {}).get("dp", {})
    return (training["best_metric"], training.get("best_epoch"),
            f"{choices.get('substep_mode')}/{choices.get('background_value', float('nan')):g}",
            metrics["aligners"]["dp"]["R1@0.3"], levels.get("step", {}).get("R1@0.3"),
            levels.get("substep", {}).get("R1@0.3"))


def sweep_points(folder: Path) -> list[tuple[str, Path]]:
    """``[(name=value, run folder)]`` of a sweep's finished points, from its ``sweep.csv``."""
    with open(folder / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(row["run"], folder / row["run"]) for row in rows if row["status"] == "done"]


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{100 * value:.2f}"
    return "-" if value is None else str(value)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--margin", type=float, default=0.01, help="selection R1@0.3 gain that counts (default 0.01)")
    parser.add_argument("baseline", type=Path, help="run folder of the defaults")
    parser.add_argument("sweeps", type=Path, nargs="+", help="vtkit sweep folders")
    args = parser.parse_args(argv)
    baseline = run_row(args.baseline)
    rows = [("defaults (baseline)", baseline, "")]
    for folder in args.sweeps:
        for name, point in sweep_points(folder):
            row = run_row(point)
            rows.append((name, row, "*" if row[0] > baseline[0] + args.margin else ""))
    width = max(len(name) for name, _, _ in rows) + 3
    print(f"{'point':<{width}}" + "".join(f"{c:>18}" for c in COLUMNS))
    for name, row, mark in rows:
        print(f"{name + ' ' + mark:<{width}}" + "".join(f"{fmt(v):>18}" for v in row))
    print(f"R1@0.3 in percent; * = the selection split (held-out train videos) prefers it by more than "
          f"{100 * args.margin:g} point(s); val is the reported split and chooses nothing")
    return 0


if __name__ == "__main__":
    from script import run

    run("sweep_table", main, sys.argv[1:])
