"""Atomic file writing: a temp file in the target folder, fsync, then rename.

A reader never sees a half-written file, and a killed writer leaves the previous
version (or nothing) in place.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open()`` that only replaces ``path`` once the block finishes without error."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def read_json(path: str | Path, what: str = "JSON") -> Any:
    """Parse a JSON file; a missing or malformed file is a one-line VtkitError."""
    from vtkit.errors import VtkitError

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise VtkitError(f"{what} file not found", path=path) from None
    except IsADirectoryError:
        raise VtkitError(f"expected a {what} file, found a folder", path=path) from None
    except UnicodeDecodeError:
        raise VtkitError(f"not UTF-8 text; expected {what}", path=path) from None
    except json.JSONDecodeError as err:
        raise VtkitError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})", path=path) from None


def read_yaml_mapping(path: str | Path, expected: str = "a mapping of parameter names to values") -> dict:
    """Parse a YAML file that must hold a mapping; problems are a one-line VtkitError."""
    import yaml

    from vtkit.errors import VtkitError

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VtkitError("file not found", path=path) from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise VtkitError("not a YAML text file", path=path) from None
    except yaml.YAMLError as err:
        raise VtkitError(f"not valid YAML ({str(err).splitlines()[0]})", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VtkitError(f"expected {expected}", path=path)
    return data
