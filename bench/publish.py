"""Run a benchmark and write what it prints into its README block.

    python bench/publish.py NAME [--readme README.md] -- python bench/bench_x.py [args]

The README holds ``<!-- NAME:start -->`` .. ``<!-- NAME:end -->``; the benchmark's stdout (its
table) goes between them inside a code block, with the command and the machine it ran on.
"""
import argparse
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vtkit.report import publish_block  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    p = argparse.ArgumentParser(description="Run a benchmark and write its table into the README.")
    p.add_argument("name")
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    args = p.parse_args(argv[:split])
    command = argv[split + 1:]
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        print(f"publish: {shlex.join(command)} failed ({proc.returncode}); README unchanged", file=sys.stderr)
        return proc.returncode
    shown = shlex.join(["python" if c == sys.executable else c for c in command])
    where = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    publish_block(args.readme, args.name, f"```\n{proc.stdout.rstrip()}\n```\n\n({where})", shown)
    print(f"written into {args.readme} ({args.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
