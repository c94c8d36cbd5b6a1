"""Checkpoints of :func:`fwpotential.simulate`: the run's state in an ``.npz`` file, written atomically,
read back only with the same parameters."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from fwpotential.errors import InputError

__all__ = ["ARRAYS", "load", "save"]

ARRAYS = ("X", "status", "stop", "counts", "trans", "tau_sum", "tau_sq", "cur", "entry", "hist", "traj")


def save(path, st, config):
    """Atomic write: a temporary file in the same directory, then os.replace."""
    path = os.fspath(path)
    out = {k: st[k] for k in ARRAYS}
    out["t"] = np.int64(st["t"])
    out["series_steps"] = np.asarray(st["series_steps"], np.int64)
    out["series"] = np.asarray(st["series"], np.int64)
    out["config"] = np.array(json.dumps(config, sort_keys=True))
    if "S" in st:
        out["S"] = st["S"]
    else:
        out["rng"] = np.array(json.dumps(st["rng"].bit_generator.state))
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **out)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path):
    """The arrays of a checkpoint file; InputError naming the file if it is not one (truncated by a
    crash during a copy, overwritten, or another file at that path)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k].copy() for k in z.files}
        config = json.loads(str(raw["config"]))
        rng = json.loads(str(raw["rng"])) if "S" not in raw else None
        missing = [k for k in (*ARRAYS, "t", "series_steps", "series") if k not in raw]
        if missing:
            raise KeyError(f"arrays {missing} are missing")
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}): the file is truncated or is not a "
            "fw.simulate checkpoint; delete it to start afresh, or pass another checkpoint= path"
        ) from None
    return raw, config, rng


def load(path, config, n_steps):
    z, saved, rng_state = read(path)
    if saved != json.loads(json.dumps(config, sort_keys=True)):
        diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != json.loads(json.dumps(config)).get(k))
        raise InputError(
            f"checkpoint {path} was written with different parameters ({diff}); use another path or delete it"
        )
    st = {k: z[k] for k in ARRAYS}
    st["t"] = int(z["t"])
    st["series_steps"] = z["series_steps"].tolist()
    st["series"] = z["series"].tolist()
    if "S" in z:
        st["S"] = z["S"]
    else:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = rng_state
        st["rng"] = rng
    if st["t"] > n_steps:
        raise InputError(f"checkpoint {path} is at step {st['t']} > n_steps={n_steps}")
    return st
