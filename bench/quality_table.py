"""One table of saved ``bench_quality.py --save`` results: the kit's row of each, side by side.

    python bench/quality_table.py LABEL=RESULT.json [LABEL=RESULT.json ...]

Ablations and before/after comparisons are each one ``bench_quality.py`` run with ``-p`` values;
this prints their kit rows (R1@0.3 per level, percent; mean ± standard deviation for a result of
several seeds, ``--repeat``) with the chance, oracle, noisy oracle and probe rows of the
first result, for the
README (through ``bench/publish.py``).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vtkit.io import read_json  # noqa: E402

LEVELS = ("steps", "substeps", "all")


def _short(param: str) -> str:
    """``name=/long/path/file.json`` -> ``name=file.json``."""
    name, _, value = param.partition("=")
    return f"{name}={Path(value).name}" if "/" in value else param


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    results = [(label, read_json(path, "benchmark result")) for label, path in (a.split("=", 1) for a in argv)]
    first = results[0][1]
    print(f"{first['videos']} videos ({first['chunks']} chunks), R1@0.3 in percent on the test videos"
          " (kit rows of several seeds: mean ± standard deviation)")
    rows = [(name, first["rows"][name], None) for name in ("chance", "oracle", "noisy oracle", "probe") if name in first["rows"]]
    for label, r in results:
        kit = next(k for k in r["rows"] if k.startswith("kit ("))
        seeds = f", {r['repeat']} seeds" if r.get("repeat", 1) > 1 else ""
        params = " ".join(_short(x) for x in r["params"])
        rows.append((f"kit: {label}" + (f" ({params}{seeds})" if params else f" ({seeds[2:]})" if seeds else ""),
                     r["rows"][kit], (r.get("spread") or {}).get(kit)))
    width = max(len(name) for name, _, _ in rows) + 2
    print(f"{'':<{width}}" + "".join(f"{lvl:>14}" for lvl in LEVELS))
    for name, row, spread in rows:
        cells = [f"{100 * row[lvl]['R1@0.3']:.2f}" + (f"±{100 * spread[lvl]['R1@0.3']:.1f}" if spread else "")
                 for lvl in LEVELS]
        print(f"{name:<{width}}" + "".join(f"{c:>14}" for c in cells))
    return 0


if __name__ == "__main__":
    from script import run

    run("quality_table", main, sys.argv[1:])
