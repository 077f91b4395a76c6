"""Training checkpoints: one ``.npz`` file (no pickle), written atomically, read back with every
part checked before it is used.

Layout (format version 2): ``param/<name>`` arrays, ``opt/<buffer>/<name>`` optimizer buffers,
the history as float arrays (``history/loss``, ``history/tau``: one entry per step;
``history/eval/<metric>``: one per evaluation, ``history/eval/step`` as integers), and ``meta``, a
JSON string holding the format tag, config, step, the Generator's ``bit_generator.state`` (its
128-bit integers survive JSON exactly), the optimizer's scalar state, the names of the evaluation
metrics and any extra state. Floats are stored as float64, which reads back bit for bit. Version 1
files (the history as JSON text inside ``meta``) are still read.

Atomic write: the file is written to a temporary name in the same directory (created with mode
0o666 less the umask, like any file the process creates), flushed and fsync'ed, then
``os.replace``d over the target, so a crash (even SIGKILL) leaves either the old checkpoint or the
new one, never a half-written file under the checkpoint's name. A checkpoint path that is a
symbolic link is written through: the link's target is replaced, the link stays.

Locking (POSIX): a run writing a checkpoint holds an exclusive ``flock`` on ``.<name>.lock`` beside
it (:class:`CheckpointLock`; the file is removed when the run ends), so a second run given the
same checkpoint is refused at its start;
each writer also holds a lock on its temporary file while writing it, and a save removes only the
temporary files nobody holds (those of writers killed mid-write).

Reading (:func:`load_checkpoint`) checks the zip's members from their ``.npy`` headers (name,
shape, dtype, and that the member's size matches) before reading any data, so a file that does
not fit the model is refused without inflating it; then the metadata's schema (types, ranges,
every expected key); then the values (finite parameters, a step that matches the history). Every
refusal is a :class:`CheckpointError` naming the file and what is wrong.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import re
import secrets
import weakref
import zipfile

import numpy as np

from .backend import to_numpy

try:
    import fcntl
except ImportError:                                   # pragma: no cover - Windows: no locks
    fcntl = None

__all__ = ["CheckpointError", "CheckpointLock", "save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = "minigumbel-checkpoint"
VERSION = 2
READS = (1, 2)                 # the format versions load_checkpoint reads
META_LIMIT = 256 * 2 ** 20     # the largest ``meta`` member read (bytes, as its header declares)
NPY_HEADER_LIMIT = 10_000      # NumPy's own default for a .npy header


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, corrupt, truncated, malformed, does not fit the run,
    or is being written by another run."""


# ----------------------------------------------------------------------------- locking

_HELD: dict = {}               # real path of a checkpoint -> the CheckpointLock this process holds


def _target(path) -> str:
    """The file a checkpoint path writes to: a symbolic link's target (followed to the end)."""
    return os.path.realpath(os.fspath(path))


def _hidden(target, suffix) -> str:
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}{suffix}")


class CheckpointLock:
    """An exclusive lock on the checkpoint ``path`` (a ``flock`` on ``.<name>.lock`` beside its
    target), held until :meth:`release` (or garbage collection). Taking it also proves that the
    folder is writable. Raises :class:`CheckpointError` naming ``path`` when another process holds
    it or the lock file cannot be created. No-op where ``fcntl`` is missing (Windows)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.target = _target(path)
        self.lockfile = _hidden(self.target, ".lock")
        for _ in range(100):
            fd = self._take()
            # the holder unlinks the lock file before it lets go: a lock taken on a file no longer
            # at the lock's path came too late; take the new one
            try:
                if fcntl is None or os.fstat(fd).st_ino == os.stat(self.lockfile).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        else:                                                   # pragma: no cover - 100 lost races
            raise CheckpointError(f"checkpoint {self.path}: its lock {self.lockfile} keeps changing hands")
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        self._finalizer = weakref.finalize(self, _let_go, fd, self.lockfile)
        _HELD[self.target] = self

    def _take(self):
        try:
            fd = os.open(self.lockfile, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise CheckpointError(f"cannot write the checkpoint {self.path}: {exc.strerror} "
                                  f"(creating {self.lockfile})") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = ""
                with contextlib.suppress(OSError):
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                who = f"process {holder}" if holder.isdigit() else "another process"
                raise CheckpointError(f"checkpoint {self.path} is being written by another run ({who} holds "
                                      f"its lock {self.lockfile}); give each run its own checkpoint") from None
        return fd

    def release(self) -> None:
        """Let go of the lock (and remove the lock file); safe to call twice."""
        if _HELD.get(self.target) is self:
            del _HELD[self.target]
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _let_go(fd, lockfile):
    with contextlib.suppress(OSError):
        os.unlink(lockfile)                  # while still holding it (see CheckpointLock.__init__)
    os.close(fd)


# ----------------------------------------------------------------------------- writing

def save_checkpoint(path, *, config, step, params, optimizer, rng_state, history, extra=None):
    """Write a checkpoint to ``path`` atomically (through a symbolic link to its target).
    ``optimizer`` is an optimizer's state_dict(); ``rng_state`` a NumPy ``bit_generator.state``
    dict (CuPy's Generators have no saveable state); ``history`` {"loss": [...], "tau": [...],
    "eval": [{"step": int, metric: float, ...}, ...]}. Takes the checkpoint's lock for the write
    unless this process holds it already (a :class:`CheckpointLock`). An I/O error is an OSError
    naming ``path``."""
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
    evals = list(history["eval"])
    metrics = [k for k in (evals[0] if evals else {}) if k != "step"]
    if any(set(e) != {"step", *metrics} for e in evals):
        raise ValueError("history['eval']: every evaluation must have the same metrics")
    arrays["history/loss"] = np.asarray(history["loss"], dtype=np.float64).reshape(-1)
    arrays["history/tau"] = np.asarray(history["tau"], dtype=np.float64).reshape(-1)
    arrays["history/eval/step"] = np.asarray([e["step"] for e in evals], dtype=np.int64).reshape(-1)
    for k in metrics:
        arrays[f"history/eval/{k}"] = np.asarray([e[k] for e in evals], dtype=np.float64).reshape(-1)
    meta = {"format": FORMAT, "version": VERSION, "config": config, "step": int(step),
            "rng_state": rng_state, "optimizer": opt_scalars, "optimizer_buffers": buffers,
            "history": {"evals": len(evals), "metrics": metrics}, "extra": extra or {}}
    arrays["meta"] = np.array(json.dumps(meta))
    path = os.fspath(path)
    target = _target(path)
    if os.path.exists(target) and not os.path.isfile(target):
        raise ValueError(f"checkpoint: {path} is not a regular file (a folder, a pipe or a device): each save "
                         "replaces the checkpoint's file")
    if target in _HELD or fcntl is None:
        _atomic_savez(path, target, arrays)
    else:
        with CheckpointLock(path):
            _atomic_savez(path, target, arrays)


def _temp_names(target):
    """Fresh temporary names beside ``target`` (this process's id and 32 random bits)."""
    for _ in range(100):
        yield _hidden(target, f".{os.getpid()}-{secrets.token_hex(4)}.tmp")
    raise FileExistsError(f"no free temporary name beside {target}")   # pragma: no cover


def _atomic_savez(path, target, arrays):
    """Write ``arrays`` to a new temporary file beside ``target`` (mode 0o666 less the umask, locked
    by this writer), fsync it and rename it over ``target``. The temporary's name is noted before
    the file is created, so an interrupt (Ctrl-C, SIGTERM: an exception between any two bytecodes)
    at any point leaves no temporary file behind."""
    folder = os.path.dirname(target)
    tmp = fd = None
    try:
        for tmp in _temp_names(target):
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:                       # pragma: no cover - 32 random bits
                tmp = None                                # another writer's file: not ours to remove
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # a new file: nobody else holds it
        with os.fdopen(fd, "wb") as f:
            fd = None                                     # f closes it from here on
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)           # atomic on POSIX and Windows; the temp's lock is held until here
        tmp = None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write the checkpoint {path}: {exc.strerror or exc}") from None
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    with contextlib.suppress(OSError):       # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    _remove_stale(target)


def _remove_stale(target):
    """Remove the temporary files beside ``target`` whose writer is gone (nobody holds their lock):
    those of writers killed mid-write. A live writer's file is locked, and kept."""
    folder, name = os.path.split(target)
    # this checkpoint's temporary names (PID-HEX, or an older version's mkstemp letters): no dot inside
    own = re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_-]+\.tmp")
    for stale in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")):
        if not own.fullmatch(os.path.basename(stale)):     # e.g. the checkpoint a.npz.x's, beside a.npz
            continue
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # BlockingIOError: its writer is alive
            os.unlink(stale)
        except OSError:
            pass
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- reading

def _bad(path, what):
    return CheckpointError(f"checkpoint {path}: {what}")


def _members(path, zf):
    """{member name without .npy: (info, shape, fortran_order, dtype, data offset)}, from the headers."""
    out = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in out:
            raise _bad(path, f"holds an unexpected member {name!r} (a checkpoint holds .npy arrays, each once)")
        with zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"unsupported .npy version {version}")
                shape, fortran, dtype = read(f, max_header_size=NPY_HEADER_LIMIT)
            except (ValueError, TypeError, SyntaxError, EOFError) as exc:
                raise _bad(path, f"member {name!r} is not a readable .npy array ({exc})") from None
            offset = f.tell()
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise _bad(path, f"member {name!r} holds {dtype} values (objects or records), which a checkpoint never holds")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise _bad(path, f"member {name!r} is inconsistent: its header says shape {shape} of {dtype} "
                             f"({nbytes} bytes) but it holds {info.file_size - offset} bytes")
        out[name[:-4]] = (info, shape, fortran, dtype)
    return out


def _read(zf, member):
    info, shape, fortran, dtype = member
    data = zf.read(info)                        # checks the member's CRC
    offset = len(data) - math.prod(shape) * dtype.itemsize
    arr = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_meta(path, meta):
    """The metadata's schema: every key, of the right type and range."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a minigumbel checkpoint (its metadata is missing "
                              "or has no minigumbel format tag)")
    if meta.get("version") not in READS:
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('version')!r}; "
                              f"this minigumbel reads versions {', '.join(map(str, READS))}")
    need = ("config", "step", "rng_state", "optimizer", "optimizer_buffers", "history", "extra")
    missing = [k for k in need if k not in meta]
    if missing:
        raise _bad(path, f"its metadata is missing {', '.join(missing)}")
    if not isinstance(meta["config"], dict) or not all(isinstance(k, str) for k in meta["config"]):
        raise _bad(path, f"config must be a JSON object, got {type(meta['config']).__name__}")
    if not _is_int(meta["step"]) or meta["step"] < 0:
        raise _bad(path, f"step must be an integer >= 0, got {meta['step']!r}")
    rng = meta["rng_state"]
    ok = (isinstance(rng, dict) and rng.get("bit_generator") == "PCG64" and isinstance(rng.get("state"), dict)
          and all(_is_int(rng["state"].get(k)) and rng["state"][k] >= 0 for k in ("state", "inc"))
          and _is_int(rng.get("has_uint32")) and _is_int(rng.get("uinteger")))
    if ok:
        try:
            np.random.PCG64().state = rng
        except (ValueError, TypeError, KeyError, OverflowError):
            ok = False
    if not ok:
        raise _bad(path, "rng_state is not the state of a NumPy PCG64 generator")
    opt = meta["optimizer"]
    if not (isinstance(opt, dict) and isinstance(opt.get("name"), str) and _is_int(opt.get("step"))
            and opt["step"] >= 0):
        raise _bad(path, "optimizer must be a JSON object with a name and an integer step >= 0, "
                         f"got {opt!r:.200}")
    for k, v in opt.items():
        if k not in ("name", "step") and not (_is_real(v) or (isinstance(v, list) and all(map(_is_real, v)))):
            raise _bad(path, f"optimizer {k} must be a finite number or a list of them, got {v!r:.100}")
    bufs = meta["optimizer_buffers"]
    if not (isinstance(bufs, list) and all(isinstance(b, str) and b and "/" not in b for b in bufs)
            and len(set(bufs)) == len(bufs) and not set(bufs) & set(opt)):
        raise _bad(path, f"optimizer_buffers must be a list of distinct names, got {bufs!r:.200}")
    if not isinstance(meta["extra"], dict):
        raise _bad(path, f"extra must be a JSON object, got {type(meta['extra']).__name__}")
    running = meta["extra"].get("running")
    if running is not None and not (isinstance(running, list) and len(running) == 2 and _is_real(running[0])
                                    and _is_int(running[1]) and running[1] >= 0):
        raise _bad(path, f"extra running must be [mean, count >= 0], got {running!r:.100}")
    hist = meta["history"]
    if meta["version"] == 1:
        ok = isinstance(hist, dict) and all(isinstance(hist.get(k), list) for k in ("loss", "tau", "eval"))
        if ok and not all(isinstance(e, dict) for e in hist["eval"]):
            ok = False
    else:
        ok = (isinstance(hist, dict) and _is_int(hist.get("evals")) and hist["evals"] >= 0
              and isinstance(hist.get("metrics"), list)
              and all(isinstance(m, str) and m and m != "step" and "/" not in m for m in hist["metrics"])
              and len(set(hist["metrics"])) == len(hist["metrics"]))
    if not ok:
        raise _bad(path, f"history is malformed, got {hist!r:.200}")
    if meta["version"] == 2 and hist["evals"] > meta["step"] + 1:
        # evaluations are at distinct steps 0..step: the members' sizes follow from this, so a
        # file claiming more is refused before any of them is inflated
        raise _bad(path, f"its history claims {hist['evals']} evaluations at step {meta['step']} "
                         f"(at most one per step, step 0 included: {meta['step'] + 1})")


def _expected(meta):
    """{member: (shape, kind)} every member must match (kind "f": float32/64; "i": int64), besides
    the params and optimizer buffers (their names come from the model: see ``like``)."""
    step, want = meta["step"], {"meta": ((), "U")}
    if meta["version"] == 2:
        evals = meta["history"]["evals"]
        want.update({"history/loss": ((step,), "f8"), "history/tau": ((step,), "f8"),
                     "history/eval/step": ((evals,), "i8")})
        want.update({f"history/eval/{m}": ((evals,), "f8") for m in meta["history"]["metrics"]})
    return want


def _check_members(path, meta, members, like):
    want = _expected(meta)
    bufs = meta["optimizer_buffers"]
    for name, (_, shape, _, dtype) in members.items():
        if name in want:
            shape_want, kind = want[name]
            fits = dtype.kind == "U" if kind == "U" else dtype.newbyteorder("=") == np.dtype(kind)
            if tuple(shape) != shape_want or not fits:
                raise _bad(path, f"member {name!r} has shape {tuple(shape)} of {dtype}; expected {shape_want} "
                                 f"of {'text' if kind == 'U' else np.dtype(kind)}")
            continue
        head, _, key = name.partition("/")
        if head == "opt":
            buf, _, key = key.partition("/")
            if buf not in bufs:
                raise _bad(path, f"member {name!r} is not in its optimizer_buffers {bufs}")
        elif head != "param":
            raise _bad(path, f"holds an unexpected member {name!r}")
        if not key:
            raise _bad(path, f"member {name!r} has no parameter name")
        if like is None:
            if dtype.kind != "f" or dtype.itemsize not in (4, 8):
                raise _bad(path, f"member {name!r} holds {dtype} values; parameters are float32 or float64")
        elif key not in like:
            raise _bad(path, f"member {name!r} is not a parameter of this model "
                             f"(its parameters: {', '.join(like)})")
        else:
            shape_want, dtype_want = like[key]
            if tuple(shape) != tuple(shape_want) or dtype.newbyteorder("=") != np.dtype(dtype_want):
                raise _bad(path, f"member {name!r} has shape {tuple(shape)} of {dtype}; this model's "
                                 f"{key} has shape {tuple(shape_want)} of {np.dtype(dtype_want)}")
    missing = [k for k in want if k not in members]
    if like is not None:
        missing += [f"param/{k}" for k in like if f"param/{k}" not in members]
    if missing:
        raise _bad(path, f"is missing {', '.join(missing)}")


def _floats(values):
    """A history list (version 1: JSON numbers) or array as a float64 array; None if not numbers."""
    if isinstance(values, np.ndarray):
        return values
    if not set(map(type, values)) <= {float, int}:           # no bools, strings, None, lists
        return None
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:                                     # a JSON integer beyond float's range
        return None


def _check_values(path, meta, arrays, history):
    for name, a in arrays.items():
        if name.startswith(("param/", "opt/")) and not np.all(np.isfinite(a)):
            raise _bad(path, f"{name} holds non-finite values")
    step = meta["step"]
    loss, tau, evals = _floats(history["loss"]), _floats(history["tau"]), history["eval"]
    if loss is None or tau is None:
        raise _bad(path, "its history holds a value that is not a number")
    if len(loss) != step or len(tau) != step:
        raise _bad(path, f"its history holds {len(loss)} losses and {len(tau)} temperatures for step {step}")
    if not np.all(np.isfinite(loss)):
        raise _bad(path, "its loss history holds a non-finite value")
    if not np.all(np.isfinite(tau) & (tau > 0)):
        raise _bad(path, "its τ history holds a value that is not a finite number > 0")
    last = -1
    for e in evals:
        s = e.get("step")
        if not (_is_int(s) and last < s <= step) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in e.items() if k != "step"):
            raise _bad(path, f"its evaluation history is malformed at {e!r:.100}")
        last = s


def load_checkpoint(path, like=None, check=None) -> dict:
    """Read a checkpoint: {"config", "step", "params", "optimizer", "rng_state", "history", "extra"}.

    ``like`` {name: (shape, dtype)}: the model's parameters; when given, the checkpoint's parameters
    and optimizer buffers must match them, name for name (checked from the members' headers,
    before any data is read). Raises :class:`CheckpointError` naming ``path`` when the file is
    missing, is not a minigumbel checkpoint, is corrupt or truncated (the zip's CRC is checked on
    every member), is malformed (a key missing, a value of the wrong type or out of range) or
    does not fit ``like``. ``check(config, step)``, if given, is called once the metadata is
    validated and before any array is read (to refuse a checkpoint of another run cheaply).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    if not os.path.isfile(path):                          # opening a pipe to read waits for a writer
        raise CheckpointError(f"checkpoint {path} is not a regular file (a pipe or a device)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(path, zf)
            if "meta" not in members:
                raise CheckpointError(f"checkpoint {path} is not a minigumbel checkpoint (it has no metadata)")
            info, shape, _, dtype = members["meta"]
            if shape != () or dtype.kind != "U" or info.file_size > META_LIMIT:
                raise _bad(path, f"its metadata is not one JSON text of at most {META_LIMIT} bytes")
            try:
                meta = json.loads(str(_read(zf, members["meta"])[()]))
            except (ValueError, RecursionError) as exc:
                raise _bad(path, f"its metadata is not JSON ({type(exc).__name__})") from None
            _check_meta(path, meta)
            if check is not None:
                check(meta["config"], meta["step"])
            _check_members(path, meta, members, like)
            arrays = {k: _read(zf, m) for k, m in members.items() if k != "meta"}
    except CheckpointError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO, errno.EISDIR):
            raise CheckpointError(f"cannot read the checkpoint {path}: {exc.strerror or exc}") from None
        raise CheckpointError(f"checkpoint {path} is corrupt, truncated or not a minigumbel checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    except zipfile.BadZipFile as exc:
        if str(exc) == "File is not a zip file":
            raise CheckpointError(f"checkpoint {path} is not a minigumbel checkpoint (not a zip/.npz file, "
                                  "or one cut short before its directory)") from None
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc})") from None
    except Exception as exc:          # zipfile/zlib/OS errors all mean "unreadable"
        raise CheckpointError(f"checkpoint {path} is corrupt, truncated or not a minigumbel checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    if meta["version"] == 1:
        history = {k: meta["history"][k] for k in ("loss", "tau", "eval")}
    else:
        ev = {m: arrays.pop(f"history/eval/{m}").tolist() for m in ["step", *meta["history"]["metrics"]]}
        history = {"loss": arrays.pop("history/loss"), "tau": arrays.pop("history/tau"),
                   "eval": [dict(zip(ev, row)) for row in zip(*ev.values())]}
    _check_values(path, meta, arrays, history)
    history.update({k: _floats(history[k]).tolist() for k in ("loss", "tau")})
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    optimizer = dict(meta["optimizer"])
    for buf in meta["optimizer_buffers"]:
        prefix = f"opt/{buf}/"
        optimizer[buf] = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    return {"config": meta["config"], "step": meta["step"], "params": params, "optimizer": optimizer,
            "rng_state": meta["rng_state"], "history": history, "extra": meta["extra"]}
