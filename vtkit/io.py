"""Reading and writing the kit's files: atomic writes, strict JSON, bounded readers.

Writes go to a temp file in the target folder, are fsynced, then renamed: a reader never sees a
half-written file, and a killed writer leaves the previous version (or nothing) in place. A
target that exists and is not a regular file (a folder, a device, a pipe) is never replaced.
Every JSON the kit writes is strict (no ``NaN`` / ``Infinity``).

Readers treat every file as untrusted: a missing, unreadable, non-UTF-8 or malformed file,
nesting too deep for the parser, or a YAML alias is a one-line :class:`VtkitError` naming the
file. JSON integers beyond the float range read as ``±inf``, so the field checks of the readers
refuse them as not finite instead of overflowing later.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from vtkit.errors import VtkitError, describe

_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (setting it races with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def check_output_path(path: str | Path) -> Path:
    """``path`` if a file may be written there: absent, or an existing regular file (else one line)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise VtkitError(f"cannot write here ({_reason(err)})", path=path) from None
    if stat.S_ISDIR(mode):
        raise VtkitError("is a folder; not replaced (name a file to write)", path=path)
    if not stat.S_ISREG(mode):
        raise VtkitError("is not a regular file (a device, pipe or socket); not replaced", path=path)
    return path


def _is_write_error(err: OSError, tmp: Path) -> bool:
    """Whether ``err`` (raised by the body of a write) is about writing the temp file."""
    return err.filename == str(tmp) or (err.filename is None and err.errno in _WRITE_ERRNOS)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed onto ``path``."""
    path = check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise VtkitError(f"cannot write ({_reason(err)})", path=path) from None
    tmp = Path(tmp)
    try:
        try:
            yield tmp
        except OSError as err:
            if _is_write_error(err, tmp):
                raise VtkitError(f"cannot write ({_reason(err)})", path=path) from None
            raise
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
            check_output_path(path)  # it may have become a folder meanwhile
            os.replace(tmp, path)
        except OSError as err:
            raise VtkitError(f"cannot write ({_reason(err)})", path=path) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open()`` that only replaces ``path`` once the block finishes without error."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def _first_non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """``(field, value)`` of the first float in ``obj`` that is NaN or infinite."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "value", obj)
    if isinstance(obj, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for name, value in items:
        found = _first_non_finite(value, name)
        if found:
            return found
    return None


def json_text(obj: Any, indent: int | None = 2, path: str | Path | None = None) -> str:
    """``obj`` as strict JSON text; a NaN or infinity is a one-line error naming its field."""
    try:
        return json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        found = _first_non_finite(obj)
        if found is None:
            raise
        field, value = found
        raise VtkitError(f"{describe(value)} is not a finite number and cannot be written as JSON", path=path,
                         field=field) from None


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON, atomically (text that cannot be UTF-8 is written with escapes)."""
    text = json_text(obj, indent, path) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from an undecodable name
        data = (json.dumps(obj, indent=indent, allow_nan=False) + "\n").encode("ascii")
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(text)
    return Path(path)


def read_text(path: str | Path, what: str = "text") -> str:
    """A UTF-8 text file (a leading byte-order mark is dropped); problems are a one-line VtkitError.

    Folders, devices and sockets are refused (reading ``/dev/zero`` would never end); pipes are read.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise VtkitError(f"expected a {what} file, found a folder", path=path)
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise VtkitError(f"expected a {what} file, found a device or socket", path=path)
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except FileNotFoundError:
        raise VtkitError(f"{what} file not found", path=path) from None
    except UnicodeDecodeError as err:
        raise VtkitError(f"not UTF-8 text (byte {err.start}); expected {what}", path=path) from None
    except OSError as err:
        raise VtkitError(f"cannot read {what} file ({_reason(err)})", path=path) from None


class HugeInt(float):
    """A JSON integer beyond the float range: ``±inf`` that prints as what it was."""

    def __new__(cls, text: str):
        value = super().__new__(cls, "-inf" if text.startswith("-") else "inf")
        value.digits = len(text.lstrip("-"))
        return value

    def __repr__(self) -> str:
        return f"<{'negative ' if self < 0 else ''}integer of {self.digits} digits>"

    __str__ = __repr__


def _parse_int(text: str) -> int | float:
    """A JSON integer; one beyond the float range is a :class:`HugeInt` (the readers refuse it as not finite)."""
    if len(text) > 400 or abs(int(text)) > sys.float_info.max:  # int() refuses > sys.get_int_max_str_digits()
        return HugeInt(text)
    return int(text)


def parse_json(text: str, path: str | Path | None = None) -> Any:
    """Parse JSON text (see :func:`read_json`); errors name ``path``."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise VtkitError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})", path=path) from None
    except RecursionError:
        raise VtkitError("JSON nested too deeply to read", path=path) from None


def read_json(path: str | Path, what: str = "JSON") -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file is a one-line VtkitError."""
    return parse_json(read_text(path, what), path)


@functools.lru_cache(maxsize=None)
def _yaml_loader():
    """PyYAML's safe loader without aliases: ``*name`` could expand a few bytes into gigabytes."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"aliases (*name) are not accepted (line {mark.line + 1}, column "
                                     f"{mark.column + 1})")
            return super().compose_node(parent, index)

    return Loader


def parse_yaml(text: str) -> Any:
    """Parse YAML text with the safe loader, aliases refused; any problem is a ``ValueError``."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML ({(str(err).strip().splitlines() or [type(err).__name__])[0]})") from None
    except RecursionError:
        raise ValueError("YAML nested too deeply to read") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a date like 2024-13-45
        raise ValueError(f"not valid YAML ({type(err).__name__}: {(str(err).splitlines() or [''])[0]})") from None


def read_yaml_mapping(path: str | Path, expected: str = "a mapping of parameter names to values") -> dict:
    """Parse a YAML file that must hold a mapping with text keys; problems are a one-line VtkitError."""
    path = Path(path)
    try:
        data = parse_yaml(read_text(path, "YAML"))
    except ValueError as err:
        raise VtkitError(str(err), path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VtkitError(f"expected {expected}", path=path)
    for key in data:
        if not isinstance(key, str):
            raise VtkitError(f"expected {expected}; a key is {describe(key)}, not a name", path=path)
    return data
