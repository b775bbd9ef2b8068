"""Notebook set-up: figures shown as PNG, and a VtkitError shown as its one line.

:func:`setup_notebook` is called at the top of every notebook (and by every figure function);
outside a Jupyter kernel it does nothing. A :class:`~vtkit.errors.VtkitError` raised by a cell
then shows one line (``VtkitError: <file>: <field>: <what is wrong>``) as the cell's error output,
so papermill, ``vtkit run`` and ``nbconvert`` still see the cell as failed, followed by the full
traceback folded in an HTML ``<details>`` element, one click away.
"""
from __future__ import annotations

import html
import traceback

from vtkit.console import jupyter_shell
from vtkit.errors import VtkitError

_set_up: set[int] = set()   # ids of the shells already set up


def setup_notebook() -> None:
    """In a Jupyter kernel: show figures as PNG and VtkitErrors as one line (once per kernel)."""
    shell = jupyter_shell()
    if shell is None or id(shell) in _set_up:
        return
    _set_up.add(id(shell))
    _enable_figure_display(shell)
    shell.set_custom_exc((VtkitError,), one_line_error)


def _enable_figure_display(shell) -> None:
    """Our figures bypass pyplot, so the inline backend may never load; register IPython's
    figure formatter directly (as ``%matplotlib inline`` would)."""
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(shell, {"png"}, bbox_inches="tight", dpi=150)


def error_line(etype, value) -> str:
    """``"VtkitError: <message>"``: what a person needs from the error."""
    return f"{etype.__name__}: {value}"


def traceback_html(text: str) -> str:
    """A traceback's text, folded: ``<details><summary>full traceback</summary><pre>...</pre></details>``."""
    return ("<details><summary>full traceback</summary>"
            f"<pre style=\"font-size: 85%\">{html.escape(text)}</pre></details>")


def one_line_error(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the error output holds one line (the cell still fails),
    then the full traceback as a folded HTML block."""
    from IPython.display import display

    shell._showtraceback(etype, value, [f"\x1b[0;31m{error_line(etype, value)}\x1b[0m"])
    full = "".join(traceback.format_exception(etype, value, tb))
    display({"text/html": traceback_html(full), "text/plain": full}, raw=True)
    return None
