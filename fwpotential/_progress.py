"""Progress bars (tqdm on stderr) for long calls: one helper that every driver uses.

A driver takes ``progress=None | True | False``:

- ``None`` (default): a bar when stderr is a terminal, shown once the call has run for
  :data:`DELAY` seconds (short calls print nothing); nothing when stderr is a file or a pipe;
- ``True``: a bar at once, wherever stderr goes;
- ``False``: never a bar.

A call made inside a tracked call inherits its choice (unless given its own) and shows as a
nested bar that disappears when it ends, so ``landscape(progress=False)`` silences its solves.
The command line sets the process default (:func:`default`). Drivers open a bar with
:func:`bar` (or the decorator :func:`tracked`) and report to the innermost one with
:func:`stage`, :func:`advance` and :func:`set_total`, which do nothing when no bar is active.
Bars move between kernel calls (per solve, pass, stage or block of steps): kernels stay compiled.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading

from fwpotential.errors import InputError

__all__ = ["DELAY", "advance", "bar", "default", "set_total", "stage", "tracked"]

#: seconds a call runs before its bar appears when ``progress=None``
DELAY = 2.0

_LOCAL = threading.local()
_DEFAULT = {"progress": None}


def _stack():
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []  # (tqdm bar or None, delay) per active tracked call, innermost last
    return _LOCAL.stack


def _isatty() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _check(progress):
    if progress is not None and not isinstance(progress, bool):
        raise InputError(f"progress must be True, False or None (a bar on a terminal), got {progress!r}")


def _resolve(progress):
    """(show, delay) for a new bar."""
    _check(progress)
    if progress is None:
        st = _stack()
        if st:
            return st[-1][0] is not None, st[-1][1]
        progress = _DEFAULT["progress"]
        if progress is None:
            return _isatty(), DELAY
    return progress, 0.0


@contextlib.contextmanager
def default(progress):
    """Process default for calls given ``progress=None`` (the command line's ``--no-progress``)."""
    _check(progress)
    before = _DEFAULT["progress"]
    _DEFAULT["progress"] = progress
    try:
        yield
    finally:
        _DEFAULT["progress"] = before


@contextlib.contextmanager
def bar(desc, *, total=None, unit="it", progress=None, soon=False):
    """Open a bar for the block; yields the tqdm bar, or None when it is not shown.

    ``soon``: the call is known to be long, so a bar shown by default appears at once."""
    show, delay = _resolve(progress)
    delay = 0.0 if soon else delay
    st = _stack()
    pbar = None
    if show:
        from tqdm import tqdm

        pbar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, delay=delay, leave=not st, dynamic_ncols=True)
    st.append((pbar, delay))
    try:
        yield pbar
    finally:
        st.pop()
        if pbar is not None:
            pbar.close()


def _top():
    st = _stack()
    return st[-1][0] if st else None


def _show(pbar):
    """Redraw now, unless the bar is still inside its delay."""
    if pbar._time() - pbar.start_t >= pbar.delay:
        pbar.refresh()


def stage(text):
    """Name what the innermost bar's call is doing now (shown after the counts)."""
    pbar = _top()
    if pbar is not None:
        pbar.set_postfix_str(str(text), refresh=False)
        _show(pbar)


def advance(n=1, text=None):
    """Move the innermost bar by ``n`` (and set its stage text)."""
    pbar = _top()
    if pbar is not None:
        if text is not None:
            pbar.set_postfix_str(str(text), refresh=False)
        pbar.update(n)
        _show(pbar)


def set_total(total):
    """Set the innermost bar's total (once the driver knows how many steps there are)."""
    pbar = _top()
    if pbar is not None:
        pbar.total = total
        _show(pbar)


def tracked(desc, *, unit="it"):
    """Decorator: run the function inside :func:`bar`, shown as its ``progress`` keyword says.

    The function declares a keyword-only ``progress=None`` (so signatures and docs show it, and it
    is never caught by ``**options``); the decorator reads it, the body need not.
    """

    def wrap(func):
        p = inspect.signature(func).parameters.get("progress")
        if p is None or p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is not None:
            raise TypeError(f"{func.__name__} must declare a keyword-only progress=None to be tracked")

        @functools.wraps(func)
        def run(*args, **kwargs):
            with bar(desc, unit=unit, progress=kwargs.get("progress")):
                return func(*args, **kwargs)

        return run

    return wrap
