"""The benchmark scripts' one entry point: a kit error (bad input) is one line on stderr and exit 2."""
import sys

from vtkit.errors import VtkitError


def run(name: str, main, *args) -> None:
    """``sys.exit(main(*args))``, with a :class:`VtkitError` printed as ``name: message``."""
    try:
        sys.exit(main(*args))
    except VtkitError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(2)
