"""Whether output is watched live: one rule for widgets and progress bars (standard library only).

``VTKIT_INTERACTIVE`` (``0``/``1``, also ``false``/``true``, ``no``/``yes``, ``off``/``on``) decides when
set; ``vtkit run`` sets it to 0 for batch runs and the kernel of a notebook inherits it.
"""
from __future__ import annotations

import importlib.util
import os
import sys

ENV_INTERACTIVE = "VTKIT_INTERACTIVE"
_FALSE, _TRUE = ("0", "false", "no", "off"), ("1", "true", "yes", "on")


def _env_flag() -> bool | None:
    """``VTKIT_INTERACTIVE`` as a bool; None when unset or not a recognised value."""
    flag = os.environ.get(ENV_INTERACTIVE, "").strip().lower()
    return False if flag in _FALSE else True if flag in _TRUE else None


def jupyter_shell():
    """The IPython shell when running inside a Jupyter kernel, else None."""
    ipython = sys.modules.get("IPython")     # a kernel has imported it; plain scripts need not pay for it
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _in_kernel_with_widgets() -> bool:
    """Inside an IPython kernel (Jupyter) that can show ipywidgets."""
    return jupyter_shell() is not None and importlib.util.find_spec("ipywidgets") is not None


def running_interactively() -> bool:
    """Widgets or a static figure: ``VTKIT_INTERACTIVE`` if set, else whether a Jupyter kernel with
    ipywidgets runs us."""
    flag = _env_flag()
    return _in_kernel_with_widgets() if flag is None else flag


def interactive_output() -> bool:
    """Whether someone watches the output live (then per-step progress bars are worth drawing):
    ``VTKIT_INTERACTIVE`` if set, else a terminal on stderr or a Jupyter kernel."""
    flag = _env_flag()
    if flag is not None:
        return flag
    return sys.stderr.isatty() or _in_kernel_with_widgets()
