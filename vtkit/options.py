"""Command-line options: one argument parser whose errors are one line, and the option types every
command uses (so every option is range-checked the same way)."""
from __future__ import annotations

import argparse
import math

from vtkit.errors import VtkitError, describe


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one-line :class:`VtkitError` s instead of usage text and exit."""

    def error(self, message: str):
        raise VtkitError(message)


def _number(text: str, kind):
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"must be a{'n integer' if kind is int else ' number'}, "
                                         f"got {describe(text)}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {describe(text)}")
    return value


def positive_float(text: str) -> float:
    """Option type: a finite number > 0."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {describe(text)}")
    return value


def positive_int(text: str) -> int:
    """Option type: an integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {describe(text)}")
    return value




def output_file(text: str) -> str:
    """Option type: a file to write; an existing folder, device or other non-regular file is refused."""
    from vtkit.io import check_output_path

    try:
        check_output_path(text)
    except VtkitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text
