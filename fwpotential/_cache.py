"""Where fwpotential keeps compiled code: a per-user cache directory, never the installed package.

Numba's ``cache=True`` writes next to the source (``fwpotential/**/__pycache__``) unless
``NUMBA_CACHE_DIR`` is set. Inside ``site-packages`` those files outlive ``pip uninstall`` (pip
removes only what it installed), and a package folder left holding nothing but ``__pycache__``
is then imported as an empty namespace package. So, unless the user has set ``NUMBA_CACHE_DIR``,
this module points it at ``<cache root>/numba`` when the package is imported, before any kernel
module imports Numba. The setting is process-wide (Numba has one cache directory per process), so
other Numba code in the same process caches there too; Numba keys every entry by the absolute
path of its source file and checks a hash of the file's contents, so two checkouts or installs
never share an entry and an edited file is recompiled.

The cache root is ``$FWPOTENTIAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fwpotential``, else
``~/.cache/fwpotential``; if it cannot be written, a folder under the system's temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["cache_root", "numba_cache_dir"]


def cache_root() -> str:
    """The per-user folder for generated modules and compiled code (not created here)."""
    env = os.environ.get("FWPOTENTIAL_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fwpotential")


def _writable(path) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def numba_cache_dir() -> str:
    """``$NUMBA_CACHE_DIR`` if the user set it, else ``<cache root>/numba`` (a temporary folder if unwritable)."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return user
    path = os.path.join(cache_root(), "numba")
    if not _writable(path):
        uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
        path = os.path.join(tempfile.gettempdir(), f"fwpotential-{uid}", "numba")
    return path


def _configure_numba():
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    path = numba_cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = path  # read by numba.config on import and on every reload
    config = sys.modules.get("numba.core.config")
    if config is not None:  # Numba imported before fwpotential: its config has already been read
        config.CACHE_DIR = path


_configure_numba()
