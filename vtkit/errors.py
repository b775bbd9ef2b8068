"""The kit's one error type: a one-line message naming the file and field at fault.

Messages quote user data, which may be huge or hold terminal control characters: values are
quoted through :func:`describe` (a bounded ``repr``), and every message is collapsed to one
line, bounded in length and stripped of raw control characters when the error is built.
"""
from __future__ import annotations

import math
import reprlib
import unicodedata

DESCRIBE_LIMIT = 80        # characters of one quoted value
PATH_LIMIT = 240           # characters of a path or field name in a message
MESSAGE_LIMIT = 1200          # characters of the message after its path and field


class _BoundedRepr(reprlib.Repr):
    """``reprlib`` with limits for error messages; integers too long to print are summarised."""

    def __init__(self):
        super().__init__()
        self.maxstring = DESCRIBE_LIMIT
        self.maxother = DESCRIBE_LIMIT
        self.maxlong = 40
        self.maxlevel = 3

    def repr_int(self, x, level):
        if x.bit_length() > 128:  # beyond that, str(x) is slow or refused (int-string conversion limit)
            return f"<{'negative ' if x < 0 else ''}integer of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_REPR = _BoundedRepr()


def describe(value, limit: int = DESCRIBE_LIMIT) -> str:
    """A short, printable ``repr`` of ``value`` for a message (at most about ``limit`` characters)."""
    try:
        text = _REPR.repr(value)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str) -> str:
    """``text`` with control, format and surrogate characters escaped (``\\x1b``, ``\\u202e``, ...)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == " " or unicodedata.category(ch)[0] != "C":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _cut(text: str, limit: int, middle: bool = False) -> str:
    if len(text) <= limit:
        return text
    if middle:  # a path: keep its start and its file name
        half = (limit - 5) // 2
        return f"{text[:half]} ... {text[-half:]}"
    return text[: limit - 4] + " ..."


def _line(text: str) -> str:
    return printable(" ".join(str(text).split()))


class VtkitError(Exception):
    """Bad input or an impossible request; `str(err)` is a complete one-line message."""

    def __init__(self, message: str, *, path=None, field=None):
        parts = [_cut(_line(part), PATH_LIMIT, middle=True) for part in (path, field) if part is not None]
        text = _cut(_line(message), MESSAGE_LIMIT)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {text}" if prefix else text)
        self.path = path
        self.field = field
