"""`vtkit COMMAND ...`: a thin dispatcher; each command lives in the module it belongs to.

Every command is a function ``cli_<name>(argv: list[str]) -> int`` that parses its own
arguments with :class:`vtkit.options.ArgumentParser` and its option types. Bad input surfaces as a
:class:`vtkit.errors.VtkitError` (an OSError on some path is turned into one) and is printed as
one line (``vtkit: error: ...``) with exit code 2, never as a traceback.
"""
from __future__ import annotations

import importlib
import sys

from vtkit.errors import VtkitError, describe

COMMANDS = {
    "inspect": ("vtkit.annotations", "cli_inspect", "summarise a GoalStep annotation file"),
    "pack": ("vtkit.features", "cli_pack", "pack per-chunk features into memory-mapped arrays"),
    "extract": ("vtkit.extract", "cli_extract", "extract per-chunk video features from video files (LaViLa, CLIP)"),
    "evaluate": ("vtkit.submission", "cli_evaluate", "score a predictions file against GoalStep annotations"),
    "check-submission": ("vtkit.submission", "cli_check_submission", "validate a challenge submission offline"),
    "predict": ("vtkit.inference", "cli_predict", "align one video's steps and write segments / subtitles"),
    "submit": ("vtkit.inference", "cli_submit", "build a challenge submission for a test-split file"),
    "train": ("vtkit.train", "cli_train", "train the adapters (same parameters as the notebooks)"),
    "run": ("vtkit.run", "cli_run", "execute the four notebooks with papermill into a report folder"),
    "sweep": ("vtkit.run", "cli_sweep", "run a parameter grid, one report folder per point"),
    "samples": ("vtkit.samples", "cli_samples", "regenerate the sample data"),
}


def usage() -> str:
    lines = ["usage: vtkit COMMAND [options]   (vtkit COMMAND -h for help)", "", "commands:"]
    lines += [f"  {name:<17} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def os_error(err: OSError) -> VtkitError:
    """An OSError as the kit's one-line error, naming the path(s) it is about."""
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    path = " -> ".join(map(str, paths)) if paths else None
    return VtkitError(err.strerror or str(err) or type(err).__name__, path=path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vtkit: error: unknown command {describe(name)}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(rest) or 0)
    except VtkitError as err:
        print(f"vtkit {name}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"vtkit {name}: error: {os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vtkit {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
