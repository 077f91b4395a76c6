"""Grids of training runs: one JSON line per run, resumable, on local processes or a Dask cluster.

A *run* is one :class:`~minigumbel.train.TrainConfig`; it is seeded by its config alone, so where it
runs (this process, a worker process, a Dask worker) does not change its numbers. A sweep

1. expands a base config, a grid ({field: [values]}) and a list of seeds into configs
   (:func:`expand`; seeds innermost);
2. reads the results file (:class:`ResultsFile`): every complete line is a finished run, keyed
   by a hash of its config; a torn last line (a write cut by ``kill -9``) is cut off and its run
   redone, never read; a bad line anywhere else is an error;
3. runs what is missing (:func:`run_grid`) and appends each record as it completes (one
   ``write`` + ``fsync``), so an interrupted sweep loses at most the runs in flight;
4. summarizes per grid cell (:func:`summarize` in :mod:`minigumbel.sweep_summary`).

A run that raises is recorded with its error (``"error"``) and never stops the grid.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import itertools
import json
import math
import os
import signal
import stat
import sys
import time

from .provenance import blas_threads, versions

__all__ = ["parse_grid", "expand", "run_key", "run_one", "run_grid", "ResultsFile", "ResultsFileError",
           "default_workers", "connect_dask", "versions", "GRID_EXCLUDED", "BLAS_VARS"]

# config fields that do not change a run's numbers (left out of its key) or cannot vary in a grid
NOT_IN_KEY = ("checkpoint", "checkpoint_every", "resume", "log_every")
GRID_EXCLUDED = ("seed",) + NOT_IN_KEY
# environment variables that pin the BLAS (and OpenMP) pools of a worker process to one thread
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def default_workers() -> int:
    """The CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                                   # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------- the grid

def _fields():
    """{field: the type its grid values parse as (int, float or str), or None: cannot vary}."""
    from .train import TrainConfig
    kinds = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not None and type(f.default) in (int, float, str):
            kinds[f.name] = type(f.default)
        else:                       # e.g. "float | None" = None: an optional number, from the annotation
            names = str(f.type).replace(" ", "").split("|")
            kinds[f.name] = next((k for k in (int, float, str) if k.__name__ in names), None)
    return kinds


def parse_grid(items) -> dict:
    """['tau=0.5,1', 'estimator=gumbel,st'] -> {'tau': [0.5, 1.0], 'estimator': ['gumbel', 'st']}.

    Keys are TrainConfig fields; each value is parsed as its field's type (int, float or str).
    Raises ValueError naming the item for an unknown or repeated key or a value of the wrong type.
    """
    kinds, grid = _fields(), {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"expected KEY=V1,V2,..., got {item!r}")
        if key in GRID_EXCLUDED or kinds.get(key) is None:
            hint = "use --seeds for seeds" if key == "seed" else \
                f"choose from {', '.join(k for k, v in kinds.items() if k not in GRID_EXCLUDED and v is not None)}"
            raise ValueError(f"{key!r} cannot vary in a grid ({item!r}); {hint}")
        if key in grid:
            raise ValueError(f"{key!r} is given twice")
        values = [t.strip() for t in text.split(",")]
        if not text.strip() or "" in values:
            raise ValueError(f"{item!r}: expected comma-separated values, none empty")
        kind = kinds[key]
        try:
            parsed = [kind(v) if kind is not int else _int(v) for v in values]
        except ValueError:
            raise ValueError(f"{item!r}: {key} takes {kind.__name__} values") from None
        if len(set(parsed)) != len(parsed):
            raise ValueError(f"{item!r}: a value is repeated")
        grid[key] = parsed
    return grid


def _int(text):
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


# training options that only one estimator takes (TrainConfig refuses them for the others)
ESTIMATOR_OPTIONS = {"tau_forward": "decoupled"}


def expand(base: dict, grid: dict, seeds, task_defaults=None) -> list[dict]:
    """Every config of the grid: the product of the grid's values (in the order given), seeds
    innermost, each a full, validated TrainConfig dict. Raises ValueError for a bad combination.
    ``task_defaults`` {task: {key: value}}: when the task varies, each cell takes its task's values
    for these keys (the options the user left at their default), unless the grid varies them too."""
    from .train import TrainConfig
    keys = list(grid)
    configs = []
    for values in itertools.product(*(grid[k] for k in keys)):
        cell = {**base, **dict(zip(keys, values))}
        if "task" in grid and task_defaults:
            cell.update({k: v for k, v in task_defaults.get(cell["task"], {}).items() if k not in grid})
        if "estimator" in grid:          # an option of one estimator goes to that estimator's cells only
            for option, owner in ESTIMATOR_OPTIONS.items():
                if cell["estimator"] != owner and option not in grid:
                    cell[option] = None
        # a cell is validated once: its runs differ only in the seed (a non-negative integer)
        proto = None
        for seed in seeds:
            if proto is None:
                c = TrainConfig(**{**cell, "seed": int(seed)})
                c.validate()
                proto = c.to_dict()
            elif isinstance(seed, bool) or int(seed) != seed or seed < 0:
                raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
            configs.append({**proto, "seed": int(seed)})
    return configs


def run_key(config: dict) -> str:
    """A run's identity: the hash of its config (minus the fields that do not change its numbers, and
    minus a field added later while it has the value all earlier runs had, so their keys stay valid)."""
    from .train import ADDED_FIELDS
    canon = json.dumps({k: v for k, v in sorted(config.items())
                        if k not in NOT_IN_KEY and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])},
                       sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:20]


# ----------------------------------------------------------------------------- one run

def _finite(x):
    """JSON has no inf/nan: write them as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def run_one(config: dict) -> dict:
    """Train one config and return its record. Any Exception becomes the record's ``error``
    (KeyboardInterrupt is not caught: it stops the sweep, and the run is redone next time)."""
    from .train import TrainConfig, train
    start = time.perf_counter()
    record = {"key": run_key(config), "config": config, "metrics": None, "error": None}
    try:
        final = train(TrainConfig(**config))["final"]
        record["metrics"] = {k: _finite(float(v)) for k, v in final.items() if k != "step"}
    except Exception as exc:                                  # noqa: BLE001 - recorded, by design
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["versions"] = versions()
    return record


# ----------------------------------------------------------------------------- the results file

class ResultsFileError(OSError):
    """A record could not be written to the results file (disk full, I/O error); the file holds
    only complete records (the partial one is cut back), so the same sweep resumes later."""


class ResultsFile:
    """The JSON-lines results of a sweep: read what is done, append what completes.

    Only the writer appends, one ``write`` of a whole line then ``fsync`` per record, and it holds
    an exclusive lock on the file, so two sweeps never write to one file at once. A record counts
    only if its line ends with a newline, parses, and its key matches its config.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.records, self.torn = {}, 0
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)   # less the umask
        try:
            if not stat.S_ISREG(os.fstat(self._fd).st_mode):    # a pipe's read would wait forever
                raise ValueError(f"{self.path} is not a regular file (a pipe or a device): a results file "
                                 "is read back and appended to")
            self._lock()
            self._read()
        except BaseException:
            os.close(self._fd)
            raise

    def _lock(self):
        try:
            import fcntl
        except ImportError:                                   # pragma: no cover - Windows
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{self.path} is being written by another sweep (it holds the file's lock)") from None

    def _read(self):
        with open(self.path, "rb") as fh:
            data = fh.read()
        good, lines = 0, data.split(b"\n")                     # the last item: after the last newline
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break
            rec, why = _parse(line)
            if rec is not None and not last:
                self.records[rec["key"]] = rec
                good += len(line) + 1
                continue
            # only the bytes after the last newline can be a write cut by a kill (a record's newline is
            # its last byte); a whole line that is not a record was changed by something else
            blank_end = not line and i == len(lines) - 2       # an empty last line (an editor's): nothing lost
            if (last and _HEAD.startswith(line[:len(_HEAD)])) or blank_end:   # a record's start, cut by a kill
                self.torn = 1
                os.ftruncate(self._fd, good)
                break
            raise ValueError(f"{self.path} line {i + 1} is not a sweep record ({why}); "
                             "the file was changed by something other than a sweep")

    def append(self, record: dict) -> None:
        """Append the record's line whole, or leave the file as it was: a short write (the disk
        filled mid-record) or a failed write or fsync truncates the file back to its last complete
        line and raises ResultsFileError naming the file. Nothing else is ever appended after a
        partial line, and the next sweep on the file resumes from the records that are there."""
        data = _line(record).encode()
        end = os.lseek(self._fd, 0, os.SEEK_END)          # the last good line ends here (we hold the lock)
        done = 0
        try:
            while done < len(data):                       # a short write may be retried; no progress stops
                n = os.write(self._fd, data[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, end)
                os.fsync(self._fd)
                kept = "the file is cut back to its last complete record"
            except OSError:                               # the next read cuts the torn line instead
                kept = "the partial last line is cut off when the sweep runs again"
            reason = exc.strerror or str(exc)
            raise ResultsFileError(
                f"cannot write to {self.path} ({reason}): the sweep stopped with {len(self.records)} runs "
                f"recorded; {kept}; run the same command again once there is space") from None
        self.records[record["key"]] = record

    def drop_failed(self) -> int:
        """Rewrite the file without the failed runs (atomically), so they run again; their count."""
        failed = [k for k, r in self.records.items() if r.get("error")]
        if failed:
            for k in failed:
                del self.records[k]
            target = os.path.realpath(self.path)          # a symbolic link stays one: its file is replaced
            tmp = f"{target}.tmp{os.getpid()}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    os.fchmod(fh.fileno(), os.fstat(self._fd).st_mode & 0o7777)   # the file's own mode
                    for r in self.records.values():
                        fh.write(_line(r))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise ResultsFileError(f"cannot rewrite {self.path} without its failed runs "
                                       f"({exc.strerror or exc}); the file is unchanged") from None
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            self._lock()
        return len(failed)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


_HEAD = b'{"key":'                     # how every record line starts (see _line)


def _line(record: dict) -> str:
    """A record as one line of strict, compact JSON (its "key" first), newline included."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"


def _parse(line: bytes):
    """(record, None) for a valid record line, else (None, why). Valid: a JSON object with "key" (the
    hash of its "config", an object), and either "metrics" ({name: number}) and "error" null, or
    "error" (a string) and "metrics" null; "seconds", when given, a number or null."""
    from ._json import NON_FINITE, check, is_number
    try:
        rec = json.loads(line)
    except RecursionError:
        return None, "nested too deeply"
    except ValueError:
        return None, "not JSON"
    try:
        check(rec, {"key": str, "config": dict}, "the record")
        metrics, error = rec.get("metrics"), rec.get("error")
        if error is None:
            check(metrics, dict, "its metrics (a run without an error)")
            for name, value in metrics.items():
                if "/" in name or not (is_number(value, finite=False) or value in NON_FINITE):
                    raise ValueError(f"metric {name[:40]!r} must be a name without '/' and a number "
                                     f"(or \"inf\", \"-inf\", \"nan\"), got {json.dumps(value)[:40]}")
        else:
            check(error, str, "its error")
            if metrics is not None:
                raise ValueError("a failed run has metrics")
        seconds = rec.get("seconds")
        if seconds is not None and not is_number(seconds):
            raise ValueError(f"its seconds must be a number, got {json.dumps(seconds)[:40]}")
        key = run_key(rec["config"])
    except ValueError as exc:
        return None, str(exc)
    except (RecursionError, TypeError):                        # a config json.dumps cannot write back
        return None, "its config is not a run's config"
    if key != rec["key"]:
        return None, "its key does not match its config"
    return rec, None


# ----------------------------------------------------------------------------- running

def run_grid(configs, out=None, workers=1, scheduler=None, on_result=None, retry_failed=False,
             scheduler_timeout=10.0):
    """Run every config not already in ``out`` and return all their records, in ``configs`` order.

    ``out``: the JSON-lines file (None: keep nothing, run everything). ``workers``: local processes
    (1: in this process). ``scheduler``: the address of a Dask distributed scheduler (overrides
    ``workers``); ``scheduler_timeout``: seconds to wait for it to answer. ``on_result(record,
    done_before)`` is called as each run completes (a progress bar); ``done_before`` is how many
    were already in the file. Returns (records, info) with info = {"done_before", "ran", "torn",
    "retried"}.
    """
    keys = [run_key(c) for c in configs]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid holds the same run twice")
    store = ResultsFile(out) if out is not None else None
    try:
        retried = store.drop_failed() if (store and retry_failed) else 0
        have = store.records if store else {}
        todo = [c for c, k in zip(configs, keys) if k not in have]
        info = {"done_before": len(configs) - len(todo), "ran": 0, "torn": store.torn if store else 0,
                "retried": retried}
        results = dict(have)
        stream = _execute(todo, workers, scheduler, scheduler_timeout)
        try:
            for record in stream:
                if store:
                    store.append(record)
                results[record["key"]] = record
                info["ran"] += 1
                if on_result:
                    on_result(record, info["done_before"])
        finally:
            stream.close()                    # on an error here: stop the workers now, not at garbage collection
    finally:
        if store:
            store.close()
    return [results[k] for k in keys], info


def _execute(configs, workers, scheduler, scheduler_timeout=10.0):
    """Yield each config's record as it completes."""
    if not configs:
        return
    if scheduler:
        yield from _on_dask(configs, scheduler, scheduler_timeout)
    elif workers <= 1:
        # one BLAS thread, as in the worker processes: these matrices are far too small to gain from
        # more, and a pool of threads waking for each tiny GEMM made runs ~3x slower (same numbers)
        with blas_threads(1):
            for c in configs:
                yield run_one(c)
    else:
        yield from _on_processes(configs, min(workers, len(configs)))


# fault injection (tests only): a worker process SIGKILLs itself when it is handed the run with this key,
# as the kernel's out-of-memory killer would kill it
FAULT_KILL_VAR = "MINIGUMBEL_FAULT_KILL_RUN"


def _worker_init(parent: int):
    """Worker processes ignore Ctrl-C (the parent stops them, and it alone reports) and exit when
    the parent is gone (``kill -9`` gives them no other notice)."""
    import threading
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _worker_main(conn, parent: int):
    """A worker process: run each config the parent sends and send back its record; stop at None."""
    _worker_init(parent)
    doomed = os.environ.get(FAULT_KILL_VAR)
    while True:
        try:
            config = conn.recv()
        except (EOFError, OSError):
            return
        if config is None:
            return
        if doomed and run_key(config) == doomed:               # pragma: no cover - dies here
            os.kill(os.getpid(), signal.SIGKILL)
        conn.send(run_one(config))


def _died(config: dict, exitcode) -> dict:
    """The record of a run whose worker process died under it (no Python error to report)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        how = f"exited with status {exitcode}"
    return {"key": run_key(config), "config": config, "metrics": None,
            "error": f"WorkerDied: the worker process running this run {how}", "seconds": None,
            "versions": versions()}


class _Worker:
    """One spawned worker process, its end of the pipe, and the config it is running (or None)."""

    def __init__(self, ctx):
        here, there = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(there, os.getpid()), daemon=True)
        self.process.start()
        there.close()                  # the parent keeps one end: a dead worker reads as EOF here
        self.conn, self.config = here, None

    def give(self, config) -> None:
        self.config = config
        try:
            self.conn.send(config)
        except OSError:                # died since its last record: the next wait() reads its EOF
            pass

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass


def _on_processes(configs, workers):
    """Run ``configs`` on ``workers`` spawned processes, one config at a time each; yield each record
    as it completes. A worker that dies (the OOM killer, a segfault) costs only the run it held:
    that run is recorded as failed, a new worker takes the next config, the others go on."""
    import multiprocessing as mp
    from multiprocessing.connection import wait
    ctx = mp.get_context("spawn")
    queue = list(reversed(configs))                              # popped from the end: configs order

    def spawn():
        # fresh interpreters ("spawn") read the one-thread BLAS setting when they import NumPy
        saved = {v: os.environ.get(v) for v in BLAS_VARS}
        os.environ.update({v: "1" for v in BLAS_VARS})
        try:
            w = _Worker(ctx)
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        w.give(queue.pop())
        return w

    pool = []
    try:
        while queue and len(pool) < workers:
            pool.append(spawn())
        while pool:
            ready = wait([w.conn for w in pool] + [w.process.sentinel for w in pool])
            for w in [w for w in pool if w.conn in ready or w.process.sentinel in ready]:
                try:
                    record = w.conn.recv()
                except (EOFError, OSError):                      # the worker died: nothing (whole) came back
                    w.process.join()
                    pool.remove(w)
                    w.conn.close()
                    yield _died(w.config, w.process.exitcode)
                    if queue:
                        pool.append(spawn())
                    continue
                if queue:
                    w.give(queue.pop())
                else:
                    w.config = None
                    w.stop()
                    pool.remove(w)
                    w.process.join()
                yield record
    finally:
        # done, Ctrl-C, or the caller gave up (e.g. a full disk): stop the workers now instead of
        # finishing their runs
        for w in pool:
            w.process.terminate()
        for w in pool:
            w.process.join()
            w.conn.close()


def _on_dask(configs, address, timeout):
    try:
        from distributed import as_completed
    except ImportError:
        raise ValueError("--scheduler needs dask distributed: pip install 'minigumbel[cluster]'") from None
    client = connect_dask(address, timeout)
    try:
        futures = client.map(run_one, configs, pure=False)
        config_of = {f.key: c for f, c in zip(futures, configs)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:          # noqa: BLE001 - run_one catches the run's own errors: this
                # is the cluster's (KilledWorker: the task's workers died, e.g. out of memory)
                try:
                    why = f": {exc}"
                except Exception:                    # noqa: BLE001 - some of Dask's errors cannot print
                    why = ""
                record = _died(config_of[fut.key], None)
                record["error"] = f"WorkerDied: {type(exc).__name__} on the Dask cluster{why}"
                yield record
    finally:
        client.close()


def connect_dask(address: str, timeout: float = 10.0):
    """A dask.distributed Client of the scheduler at ``address``, or ValueError("cannot reach the Dask
    scheduler at ADDRESS (why)") within about ``timeout`` seconds: a refused port at once, anything
    that does not answer Dask's handshake (an HTTP server, a silent port) at the timeout, an address
    Dask cannot use (inproc:// of another process, tls:// without Dask's TLS settings) at once."""
    import asyncio
    import socket
    from distributed import Client
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.security import Security

    def fail(why):
        return ValueError(f"cannot reach the Dask scheduler at {address} ({why})")
    try:
        scheme, location = parse_address(address)
    except ValueError as exc:
        raise fail(exc) from None
    if scheme == "inproc":
        raise fail("inproc:// names a scheduler inside one process; give tcp://HOST:PORT")
    if scheme in ("tcp", "tls"):
        try:
            host, port = parse_host_port(location)
            socket.create_connection((host, port), timeout=timeout).close()
        except (ValueError, TypeError):
            raise fail("expected tcp://HOST:PORT") from None
        except (OSError, OverflowError) as exc:          # refused, no route, unknown host, port > 65535
            raise fail(getattr(exc, "strerror", None) or exc) from None
    args = Security().get_connection_args("client")
    if scheme == "tls" and args.get("ssl_context") is None:
        raise fail("tls:// needs Dask's TLS settings (distributed.comm.tls in the Dask configuration)")

    async def handshake():                   # Dask's own connect waits for a handshake without a limit
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout)
        await comm.close()
    try:
        asyncio.run(handshake())
    except (TimeoutError, asyncio.TimeoutError):
        raise fail(f"no Dask scheduler answered within {timeout:g} s; --scheduler-timeout sets the wait") from None
    except MemoryError:
        # some releases of distributed read another server's reply (HTTP, say) as a frame header and
        # try to allocate its "length": the server answered, but not in Dask's protocol
        raise fail("the server answered, but not as a Dask scheduler (its reply is not Dask's protocol)") from None
    except Exception as exc:                             # noqa: BLE001 - anything else that is not a scheduler
        raise fail(f"{type(exc).__name__}: {exc}") from None
    try:
        return Client(address, timeout=timeout)
    except Exception as exc:                             # noqa: BLE001
        raise fail(f"{type(exc).__name__}: {exc}") from None


if __name__ == "__main__":                                   # pragma: no cover
    sys.exit("use `minigumbel sweep`")
