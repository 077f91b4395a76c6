"""Training checkpoints: one ``.npz`` file (no pickle), written atomically.

Layout: ``param/<name>`` arrays, ``opt/<buffer>/<name>`` optimizer buffers, and ``meta``, a JSON
string holding the format tag, config, step, the Generator's ``bit_generator.state`` (its 128-bit
integers survive JSON exactly), the optimizer's scalar state, the history so far and any extra
state. Floats go through JSON as their shortest repr, which reads back bit for bit.

Atomic write: the file is written to a temporary name in the same directory, flushed and
fsync'ed, then ``os.replace``d over the target, so a crash (even SIGKILL) leaves either the old
checkpoint or the new one, never a half-written file under the checkpoint's name (the next save
removes temporary files such a crash left behind). Any failure to
read a checkpoint back is a :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile

import numpy as np

from .backend import to_numpy

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = "minigumbel-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, corrupt, truncated or does not fit the run."""


def save_checkpoint(path, *, config, step, params, optimizer, rng_state, history, extra=None):
    """Write a checkpoint to ``path`` atomically. ``optimizer`` is an optimizer's state_dict();
    ``rng_state`` a NumPy ``bit_generator.state`` dict (CuPy's Generators have no saveable state)."""
    if not isinstance(rng_state, dict):
        raise TypeError(f"rng_state must be a NumPy bit_generator.state dict, got {type(rng_state).__name__} "
                        "(CuPy's Generator state cannot be saved; checkpoint a numpy-backend run)")
    arrays = {f"param/{k}": to_numpy(v) for k, v in params.items()}
    opt_scalars, buffers = {}, []
    for key, value in optimizer.items():
        if isinstance(value, dict):
            buffers.append(key)
            arrays.update({f"opt/{key}/{k}": to_numpy(v) for k, v in value.items()})
        else:
            opt_scalars[key] = list(value) if isinstance(value, tuple) else value
    meta = {"format": FORMAT, "version": VERSION, "config": config, "step": int(step),
            "rng_state": rng_state, "optimizer": opt_scalars, "optimizer_buffers": buffers,
            "history": history, "extra": extra or {}}
    arrays["meta"] = np.array(json.dumps(meta))
    _atomic_savez(os.fspath(path), arrays)


def _atomic_savez(path, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)                 # atomic on POSIX and Windows
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):       # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    # temporary files of earlier writers killed mid-write (SIGKILL) are never read; remove them
    for stale in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(os.path.basename(path))}.*.tmp")):
        with contextlib.suppress(OSError):
            os.unlink(stale)


def load_checkpoint(path) -> dict:
    """Read a checkpoint: {"config", "step", "params", "optimizer", "rng_state", "history", "extra"}.

    Raises :class:`CheckpointError` (naming ``path``) when the file is missing, is not a
    minigumbel checkpoint, or is corrupt or truncated (the zip's CRC is checked on every array).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = list(z.files)
            meta = json.loads(str(z["meta"][()]))
            arrays = {k: z[k] for k in files if k != "meta"}       # reading verifies each CRC
    except Exception as exc:          # zipfile/zlib/OS/format errors all mean "unreadable"
        raise CheckpointError(f"checkpoint {path} is corrupt, truncated or not a minigumbel checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    need = ("config", "step", "rng_state", "optimizer", "optimizer_buffers", "history", "extra")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or any(k not in meta for k in need):
        raise CheckpointError(f"checkpoint {path} is not a minigumbel checkpoint (its metadata is missing "
                              "or incomplete)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('version')!r}; "
                              f"this minigumbel reads version {VERSION}")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    optimizer = dict(meta["optimizer"])
    for buf in meta["optimizer_buffers"]:
        prefix = f"opt/{buf}/"
        optimizer[buf] = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    return {"config": meta["config"], "step": int(meta["step"]), "params": params, "optimizer": optimizer,
            "rng_state": meta["rng_state"], "history": meta["history"], "extra": meta["extra"]}
