"""The supported-versions matrix: the test suite on every supported Python, and on the dependency floors.

    nox -r                          # tests-3.X for each supported Python found, then floors
    nox -r -s tests-3.13            # one interpreter
    nox -r -s floors                # oldest supported Python, runtime dependencies at their floors
    nox -r -s fast                  # `-m "not slow and not cupy"` on the oldest and newest supported Pythons
    nox -r -s tests-3.10 -- -x -k cli   # arguments after -- replace the default pytest arguments

The supported Pythons are read from the `Programming Language :: Python :: 3.X` classifiers in
pyproject.toml, the floors from its `dependencies`, and every extra but cuda* is installed, so this
file never restates any of them. `-r`
reuses the virtualenvs in .nox/ (the project is installed editable, so edits need no reinstall).
An interpreter this machine lacks is skipped, never downloaded (pyenv, PATH and uv's own Pythons
are searched). uv makes the venvs when it is installed, virtualenv otherwise.
"""

import os
import re
from pathlib import Path

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)  # e.g. ["3.10", "3.11", "3.12", "3.13"]


def _offer_pyenv_pythons(minors):
    """Let nox find every pyenv-installed Python, not only the active one.

    nox resolves a pyenv shim (python3.10) only to the versions pyenv has active; naming the newest
    installed patch of each supported minor in PYENV_VERSION (as `pyenv shell 3.10.13 3.12.1` would)
    makes them all findable. Only this nox process and its children see the change.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    if not (root / "versions").is_dir():
        return
    newest = {}  # "3.10" -> ("3.10.13", 13)
    for d in (root / "versions").iterdir():
        m = re.fullmatch(r"(3\.\d+)\.(\d+)", d.name)
        if m and m[1] in minors and (d / "bin" / f"python{m[1]}").exists():
            if int(m[2]) > newest.get(m[1], ("", -1))[1]:
                newest[m[1]] = (d.name, int(m[2]))
    active = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    os.environ["PYENV_ROOT"] = str(root)
    os.environ["PYENV_VERSION"] = ":".join(active + [v for v, _ in newest.values() if v not in active])


_offer_pyenv_pythons(PYTHONS)
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False  # "on every supported interpreter found"


def floor_pins(pyproject):
    """`numpy>=2.0` -> `numpy==2.0`, for every runtime dependency; each must declare a floor."""
    pins = []
    for req in pyproject["project"]["dependencies"]:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", req)
        if m is None:
            raise ValueError(f"dependency {req!r} must be 'name>=floor' so the floors session can pin it")
        pins.append(f"{m[1]}=={m[2]}")
    return pins


# prints the interpreter and the installed version of each distribution named on its command line
SHOW_VERSIONS = ("import sys, importlib.metadata as m; "
                 "print('python', sys.version.split()[0], *(f'{d}=={m.version(d)}' for d in sys.argv[1:]))")
RUNTIME = [pin.split("==")[0] for pin in floor_pins(PYPROJECT)]
# every extra but the CuPy ones (they need a GPU driver): test, plot, and whatever is added later
EXTRAS = ",".join(x for x in PYPROJECT["project"].get("optional-dependencies", {}) if not x.startswith("cuda"))


def _install_and_test(session, *extra_requirements, default_args=("-q",)):
    session.install("-e", f".[{EXTRAS}]", "pip", *extra_requirements)  # pip: test_packaging builds a wheel
    session.run("python", "-c", SHOW_VERSIONS, *RUNTIME)
    session.run("python", "-m", "pytest", *(session.posargs or default_args))


@nox.session(python=PYTHONS, download_python="never")
def tests(session):
    """The README's test command on one supported Python, newest dependencies."""
    _install_and_test(session)


@nox.session(python=PYTHONS[0], download_python="never")
def floors(session):
    """The suite with every runtime dependency pinned to its declared floor, on the oldest Python."""
    _install_and_test(session, *floor_pins(PYPROJECT))


@nox.session(python=[PYTHONS[0], PYTHONS[-1]], download_python="never", default=False)
def fast(session):
    """The fast part of the suite on the oldest and newest supported Pythons (.ci/run):
    `-m "not slow and not cupy"` (the CuPy stand-in's cases run on CI's main Python)."""
    _install_and_test(session, default_args=("-q", "-m", "not slow and not cupy"))
