"""Packaging: a wheel built from this checkout installs only this project's import names."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def top_level_names(wheel):
    """The import names a wheel puts into site-packages: first path components, less its metadata."""
    with zipfile.ZipFile(wheel) as z:
        firsts = {name.split("/")[0] for name in z.namelist()}
    return {n.removesuffix(".py") for n in firsts if not n.endswith((".dist-info", ".data"))}


def test_top_level_names_reads_what_a_wheel_installs(tmp_path):
    """The reader itself: a stray top-level package or module is reported, metadata folders are not."""
    wheel = tmp_path / "x-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in ["minigumbel/__init__.py", "cli/main.py", "tests.py", "x-0.dist-info/RECORD", "x-0.data/a"]:
            z.writestr(name, "")
    assert top_level_names(wheel) == {"minigumbel", "cli", "tests"}


@pytest.mark.slow
def test_wheel_installs_only_minigumbel_and_minigumbel_cli(tmp_path):
    """`pip wheel` of a copy of the checkout (so no stale build/ can leak in): cli/ ships as
    minigumbel_cli, nothing else (tests, scripts, a bare `cli`) is installed, and the console
    script points at it. ~5-10 s: pip builds in an isolated environment with setuptools."""
    pytest.importorskip("pip", reason="building the wheel needs pip in this environment")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__"))
    out = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    wheel, = out.glob("minigumbel-*.whl")
    assert top_level_names(wheel) == {"minigumbel", "minigumbel_cli"}
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points, = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "minigumbel = minigumbel_cli.main:main" in z.read(entry_points).decode()
    assert "minigumbel_cli/main.py" in names and "minigumbel/functional.py" in names
