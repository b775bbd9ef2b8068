"""README blocks written by commands: the block is replaced whole, the rest is kept, markers are required."""
import subprocess
import sys
from pathlib import Path

import pytest

from vtkit.errors import VtkitError
from vtkit.report import publish_block

ROOT = Path(__file__).resolve().parents[1]


def test_publish_block_replaces_only_its_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# t\n\nbefore\n<!-- bench_x:start -->\nold 1\n<!-- bench_x:end -->\nafter\n")
    publish_block(readme, "bench_x", "| a | b |\n|---|---|\n| 1 | 2 |", "python bench/bench_x.py")
    text = readme.read_text()
    assert text.startswith("# t\n\nbefore\n") and text.endswith("\nafter\n") and "old 1" not in text
    assert "| 1 | 2 |" in text and "written by `python bench/bench_x.py`" in text
    publish_block(readme, "bench_x", "new", "cmd")          # idempotent markers: publish again
    assert readme.read_text().count("bench_x:start") == 1 and "\nnew\n" in readme.read_text()
    with pytest.raises(VtkitError, match="no block markers"):
        publish_block(readme, "bench_y", "x", "cmd")


def test_bench_publish_runs_a_command_and_writes_its_output(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- demo:start -->\n<!-- demo:end -->\n")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "publish.py"), "demo", "--readme", str(readme), "--",
                           sys.executable, "-c", "print('| k | v |')"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| k | v |" in readme.read_text()
    failing = subprocess.run([sys.executable, str(ROOT / "bench" / "publish.py"), "demo", "--readme", str(readme),
                              "--", sys.executable, "-c", "raise SystemExit(3)"], capture_output=True, text=True)
    assert failing.returncode == 3 and "| k | v |" in readme.read_text()   # unchanged
