"""bench_scale's log of the child run: a progress bar is one line, in its last state."""
import io
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_scale import last_redraw  # noqa: E402


def test_a_progress_bar_logs_as_its_last_state_only():
    out = io.StringIO()
    out.write("[1/4] 01_data_inspection.ipynb ... 7.3 s\n")
    for _ in tqdm(range(5), desc="pack", file=out, mininterval=0, miniters=1):
        pass
    out.write("report: r.html\n")
    piped = io.BytesIO(out.getvalue().encode())   # read as run_kit reads the child's output: split at \n only
    lines = [last_redraw(raw.decode()) for raw in piped]
    assert lines[0] == "[1/4] 01_data_inspection.ipynb ... 7.3 s"
    assert lines[-1] == "report: r.html"
    bars = [line for line in lines if line.startswith("pack")]
    assert len(bars) == 1 and "100%" in bars[0] and "5/5" in bars[0]


def test_plain_and_blank_lines_are_kept():
    assert last_redraw("plain text  \n") == "plain text"
    assert last_redraw("\n") == ""
    assert last_redraw("\r  10%|#  |\r 100%|###|\r\n") == " 100%|###|"
