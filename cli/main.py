"""The ``minigumbel`` command line: a thin Click layer over the library.

Commands live in their own modules and are imported only when invoked, so that
``minigumbel --help`` starts fast and never imports cupy, matplotlib or autograd.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
import threading

import click

from minigumbel import __version__

# command name -> (module, attribute, one-line help shown by `minigumbel --help`)
COMMANDS = {
    "train": ("minigumbel_cli.train_cmd", "train", "Train a pointer task or the digits VAE through a discrete choice."),
    "compare": ("minigumbel_cli.sweep_cmd", "compare", "Compare estimators over seeds: soft-train vs hard-eval."),
    "sweep": ("minigumbel_cli.sweep_cmd", "sweep", "Run a grid of training runs (resumable; local processes or Dask)."),
    "estimators": ("minigumbel_cli.estimators_cmd", "estimators", "Bias and variance of gradient estimators vs the exact gradient."),
    "sample": ("minigumbel_cli.sample_cmd", "sample", "Draw Gumbel-max and Gumbel-Softmax samples and compare with softmax."),
    "gradcheck": ("minigumbel_cli.gradcheck_cmd", "gradcheck", "Check every backward rule against autograd and finite differences."),
    "bench": ("minigumbel_cli.bench_cmd", "bench", "Time the sampler and a training step (optionally against PyTorch)."),
    "plot": ("minigumbel_cli.plot_cmd", "plot", "Draw a figure (needs the 'plot' extra: matplotlib)."),
}


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM, raised where the main thread is, so that ``finally`` blocks
    and context managers run (temporary files removed, worker processes stopped, progress bar
    ended) before the exit status 128 + ``signum``: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):
    for s in (signal.SIGINT, signal.SIGTERM):   # a second signal during the clean-up: leave at once
        signal.signal(s, _exit_now)
    raise Interrupted(signum)


def _exit_now(signum, frame):
    os._exit(128 + signum)


@contextlib.contextmanager
def _signals_interrupt():
    """While a command runs: SIGINT and SIGTERM raise :class:`Interrupted` (restored after; only the
    main thread can set handlers, so elsewhere, e.g. a test runner's thread, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _interrupt_exit(exc) -> None:
    """The exit for an interrupt no command reported: one line, status 128 + the signal."""
    signum = getattr(exc, "signum", signal.SIGINT)
    click.echo(f"interrupted ({signal.Signals(signum).name})", err=True)
    sys.exit(128 + signum)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(name for name, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod))

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # Usage errors print one line, 'Error: ...', and exit 2 (no usage dump, no traceback).
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with _signals_interrupt():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort as exc:     # click's wrapping of an interrupt while it parses
            _interrupt_exit(exc.__context__)
        except KeyboardInterrupt as exc:
            _interrupt_exit(exc)
        except click.ClickException as exc:
            msg = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None and exc.ctx.command is not None:
                msg = f"{msg} (see 'minigumbel {exc.ctx.info_name if exc.ctx.parent else ''} --help')"
                msg = msg.replace("minigumbel minigumbel", "minigumbel").replace("  ", " ")
            click.echo(f"Error: {msg}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        # Library errors caused by the user's input become one 'Error:' line and exit 2.
        from minigumbel.backend import BackendUnavailable
        args = [*getattr(ctx, "_protected_args", ()), *ctx.args]      # the command and its options
        try:
            return super().invoke(ctx)
        except MemoryError:                   # (CuPy's OutOfMemoryError too) the sizes asked for too much
            click.echo(f"Error: {_out_of_memory(args)}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:      # Ctrl-C, SIGTERM: commands that can say more catch it first
            _interrupt_exit(exc)
        except BrokenPipeError:               # `minigumbel ... | head`: the reader left; not an error
            sys.stdout = open(os.devnull, "w")
            sys.exit(0)
        except (ValueError, BackendUnavailable, OSError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# options whose values set how much memory a command allocates
SIZE_OPTIONS = ("--batch-size", "--hidden", "--n-items", "--eval-size", "--gr-k", "-L", "--latents", "-K",
                "--classes", "--samples", "--sizes", "--seeds", "--workers", "--images", "--k", "-n", "--n")


def _out_of_memory(args) -> str:
    """The one line for a MemoryError: which size options were given (the front-door checks of
    minigumbel.memory refuse what certainly cannot fit; this is what came close)."""
    given = []
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in SIZE_OPTIONS:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            given.append(f"{name} {value}")
    sizes = f"the sizes given ({', '.join(given)}) need" if given else "the default sizes need"
    return f"out of memory: {sizes} more memory than this machine has; make them smaller"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minigumbel")
def main():
    """minigumbel: the Gumbel-Softmax trick from scratch, with hand-derived gradients.

    Every command takes --help. Bad input exits with status 2 and one 'Error:' line.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
