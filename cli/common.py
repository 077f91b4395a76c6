"""Options and output helpers shared by the commands (one definition, one behaviour)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys

import click

from minigumbel.backend import BACKENDS


# the documented τ domain (minigumbel.functional.check_tau), for every option taking one temperature
TAU = click.FloatRange(min=1e-4, max=1e4)


def backend_option(f):
    return click.option("--backend", type=click.Choice(BACKENDS), default="numpy", show_default=True,
                        envvar="MINIGUMBEL_BACKEND", show_envvar=True,
                        help="Array backend: numpy (CPU), cupy (GPU) or auto.")(f)


def seed_option(f):
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help="Seed of the random Generator (same seed, same numbers).")(f)


STDOUT = "-"


def json_option(f):
    return click.option("--json", "json_out", type=JsonPath(writable=True), default=None, metavar="PATH",
                        help="Write the result as JSON to PATH; '-' writes it to standard output and the "
                             "table to standard error.")(f)


def _is_stdout(path) -> bool:
    """``-``, or a path naming the file standard output already writes to (``--json /dev/stdout``)."""
    if path == STDOUT:
        return True
    try:
        a, b = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def human_output(json_out):
    """Where the human-readable text goes: standard output, or standard error when the JSON does
    (a context manager; click.echo follows sys.stdout)."""
    if json_out is not None and _is_stdout(json_out):
        return contextlib.redirect_stdout(sys.stderr)
    return contextlib.nullcontext()


def emit_json(json_out, obj, indent=2) -> None:
    """Write ``obj`` as standard JSON to ``json_out`` (``-`` or the file standard output is: to
    standard output, never by reopening it, which would truncate a redirect); None: nothing."""
    if json_out is None:
        return
    _put_json(json_out, json.dumps(_strict(obj), indent=indent, allow_nan=False))


def _put_json(json_out, text) -> None:
    if _is_stdout(json_out):
        click.echo(text)
    else:
        _write_text(json_out, text)


def report(json_out, obj, show, indent=2) -> None:
    """A command's results: ``show()`` prints the human text (on standard output, or standard
    error with ``--json -``), then ``obj`` goes to ``--json`` as :func:`emit_json` writes it. The
    text comes first, so a JSON file that cannot be written (a full disk) is reported after the
    results were shown, not instead of them; ``obj`` is serialised before ``show`` runs."""
    text = None if json_out is None else json.dumps(_strict(obj), indent=indent, allow_nan=False)
    with human_output(json_out):
        show()
    if text is not None:
        _put_json(json_out, text)


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(f)


def float_list(text: str, name: str) -> list[float]:
    """Parse '1,2,3' into floats, or raise click.BadParameter naming the option."""
    fields = text.split(",")
    if not text.strip():
        raise click.BadParameter("expected at least one number", param_hint=name)
    if any(t.strip() == "" for t in fields):
        raise click.BadParameter(f"empty item in the list {text!r}", param_hint=name)
    try:
        return [float(t) for t in fields]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=name) from None


def _strict(obj):
    """Standard JSON has no NaN/Infinity: write ±inf as the strings "inf"/"-inf", NaN as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def choice_list(text: str, name: str, choices) -> list[str]:
    """Parse 'a,b' into names from ``choices``, or raise click.BadParameter naming the option."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip():
        raise click.BadParameter(f"expected at least one of {', '.join(choices)}", param_hint=name)
    if "" in items:
        raise click.BadParameter(f"empty item in the list {text!r}", param_hint=name)
    bad = [t for t in items if t not in choices]
    if bad:
        raise click.BadParameter(f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(choices)}",
                                 param_hint=name)
    return items


def echo_json(obj) -> None:
    click.echo(json.dumps(_strict(obj), indent=2, sort_keys=False, allow_nan=False))


def write_json(path, obj, indent=2) -> None:
    """Write ``obj`` to ``path`` as the same standard JSON that --json prints; an I/O error is an
    OSError naming ``path`` (a full disk shows only when the data is flushed)."""
    _write_text(path, json.dumps(_strict(obj), indent=indent, allow_nan=False))


def _write_text(path, text) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None


def cannot_write(path) -> str | None:
    """Why this process cannot write the file ``path`` (None when it can), found by trying: an
    existing regular file is opened for writing (not truncated); a missing one is created in its
    folder and removed again; anything else (a device, a pipe) is asked with os.access."""
    path = os.fspath(path)
    try:
        if os.path.isfile(path):
            os.close(os.open(path, os.O_WRONLY))
        elif os.path.exists(path):
            if not os.access(path, os.W_OK):
                return "permission denied"
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.unlink(path)
    except FileExistsError:            # created meanwhile, or a dangling symbolic link: written later
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def same_file(a, b) -> bool:
    """Whether the paths ``a`` and ``b`` name one file (through symbolic links and hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def table(rows: list[list], headers: list[str]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def fmt(r):
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, length=None, label="", quiet=False, **kw):
    """click.progressbar on stderr, or a silent pass-through when quiet or when stderr is not a
    terminal (a log file gets no progress labels)."""
    if quiet or not stderr_is_terminal():
        return _Silent(iterable if iterable is not None else range(length))
    return click.progressbar(iterable, length=length, label=label, file=sys.stderr, **kw)


class _Silent:
    """The quiet stand-in for a progress bar: iterates like one, ``update`` does nothing."""

    def __init__(self, it):
        self._it = it

    def __enter__(self):
        return self

    def __iter__(self):
        return iter(self._it)

    def update(self, n_steps, current_item=None):
        pass

    def __exit__(self, *exc):
        return False


class FilePath(click.Path):
    """A file path option: like click.Path(dir_okay=False), but an empty value is an error (not
    silently 'no file'), and an output (``writable=True``) that cannot be written (a missing or
    read-only folder, a read-only file) is reported at once, before any computing; the messages
    name the option."""

    def __init__(self, **kw):
        kw.setdefault("dir_okay", False)
        super().__init__(**kw)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.strip() == "":
            self.fail("a file path is required, got an empty value", param, ctx)
        value = super().convert(value, param, ctx)
        folder = os.path.dirname(os.path.abspath(os.fspath(value)))
        if self.writable and not os.path.isdir(folder):
            self.fail(f"the folder of {os.fspath(value)} does not exist", param, ctx)
        why = cannot_write(value) if self.writable else None
        if why:
            self.fail(f"cannot write {os.fspath(value)}: {why}", param, ctx)
        return value


class JsonPath(FilePath):
    """``--json PATH``: a file to write (checked as an output before any computing), or ``-`` for
    standard output. A value that looks like an option (``--json -q``) is refused: --json takes a path."""

    def convert(self, value, param, ctx):
        if value == STDOUT:
            return STDOUT
        if isinstance(value, str) and value.startswith("-"):
            self.fail(f"expected a file path, or - for standard output, got {value!r} (an option?); "
                      f"a file whose name starts with '-' is ./{value}", param, ctx)
        return super().convert(value, param, ctx)
