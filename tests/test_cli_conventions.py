"""Conventions every command follows: `--json PATH` ('-': standard output, the table then on
standard error), no progress text when stderr is not a terminal, missing extras refused up front
(exit 2), and help text with a description for every option, one way of showing defaults, and
no word split by the wrapping."""
import json
import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from minigumbel_cli.common import JsonPath
from minigumbel_cli.main import COMMANDS, main

SAMPLE = ["sample", "--logits", "1,2,3", "-n", "2000", "--seed", "1"]


def _commands():
    ctx = click.Context(main)
    return {name: main.get_command(ctx, name) for name in COMMANDS}


def test_every_command_takes_json_path():
    for name, cmd in _commands().items():
        if name == "plot":                   # its output is the image (--out); it has no result to print
            assert not any(p.name == "json_out" for p in cmd.params)
            continue
        (opt,) = [p for p in cmd.params if "--json" in getattr(p, "opts", ())]
        assert isinstance(opt.type, JsonPath) and not opt.is_flag, name


def test_json_dash_is_stdout_and_the_table_goes_to_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, [*SAMPLE, "--json", "-"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)                                     # stdout: the JSON alone
    assert d["n"] == 2000 and len(d["probs"]) == 3
    assert "Gumbel-max freq" in r.stderr and "chi-square" in r.stderr
    assert os.listdir(tmp_path) == []                            # no file named '-'


def test_json_path_writes_the_file_and_the_table_stays_on_stdout(tmp_path):
    r = CliRunner().invoke(main, [*SAMPLE, "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert "Gumbel-max freq" in r.stdout and r.stderr == ""
    assert json.loads((tmp_path / "s.json").read_text())["n"] == 2000


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_json_to_stdout_redirected_to_a_file_holds_only_json(target, tmp_path):
    """`--json /dev/stdout > file` interleaved the table into the JSON (and reopening the redirect
    truncated it); standard output is recognised whatever its name."""
    with open(tmp_path / "out.json", "w") as fh:
        p = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *SAMPLE, "--json", target],
                           stdout=fh, stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    d = json.loads((tmp_path / "out.json").read_text())
    assert d["seed"] == 1
    assert "chi-square" in p.stderr and not (tmp_path / "-").exists()


@pytest.mark.parametrize("value", ["-q", "--quiet"])
def test_json_followed_by_an_option_is_refused(value):
    r = CliRunner().invoke(main, [*SAMPLE, "--json", value])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "'--json'" in lines[0] and "or - for standard output" in lines[0]


def test_no_progress_text_when_stderr_is_not_a_terminal(tmp_path):
    """A log file gets the results and nothing else: no progress labels ('argmax/gumbel', 'timing ...')."""
    for args in (["train", "--steps", "30", "--eval-every", "10", "--eval-size", "20"],
                 ["bench", "--parts", "gumbel", "--sizes", "4x4", "--repeats", "1"],
                 ["estimators", "--samples", "50", "--tau", "1", "--estimators", "st"]):
        p = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *args], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
        assert p.returncode == 0 and p.stderr == "", (args, p.stderr)


def test_missing_scikit_learn_is_exit_2_before_any_run_in_compare_and_sweep(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)      # import fails as if not installed
    for cmd in (["compare", "--task", "vae", "--steps", "2", "--seeds", "1", "--workers", "1", "-q"],
                ["sweep", "--grid", "task=argmax,vae", "--steps", "2", "--seeds", "1", "--workers", "1", "-q"],
                ["train", "--task", "vae", "--steps", "2", "-q"]):
        r = CliRunner().invoke(main, cmd)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) == 1, (cmd, r.output)
        assert lines[0].startswith("Error:") and "scikit-learn" in lines[0], lines


def test_bench_against_a_missing_library_is_exit_2_before_timing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)                 # find_spec: not importable
    r = CliRunner().invoke(main, ["bench", "--parts", "gumbel", "--sizes", "4x4", "--repeats", "1",
                                  "--against", "torch"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "torch is not installed" in lines[0] and "--against" in lines[0], r.output


def test_a_failed_library_run_is_a_marked_row_with_its_reason():
    from minigumbel_cli.bench_cmd import _print
    row = {"shape": [4, 4], "cases": {"fused": {"median_ms": 1.0, "min_ms": 1.0, "max_ms": 1.0},
                                       "torch": {"error": "exit 1: ImportError: libtorch.so"}}}
    r = CliRunner().invoke(click.Command("t", callback=lambda: _print(
        {"gumbel_softmax": [row], "config": {"dtype": "float32", "tau": 1.0}, "targets": []})), [])
    assert re.search(r"^torch\s+FAILED", r.output, re.M) and "torch FAILED: exit 1: ImportError" in r.output


def _help(name, width):
    args = [name, "--help"] if name else ["--help"]
    return CliRunner().invoke(main, args, terminal_width=width).output


def _source_words(cmd):
    """Every word the help is made of: docstring, option names, help strings, metavars, choices."""
    text = [cmd.help or "", cmd.name or ""]
    for p in cmd.params:
        text += [*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()), getattr(p, "help", None) or "",
                 p.metavar or "", p.name or "", str(p.type), " ".join(map(str, getattr(p.type, "choices", ()) or ()))]
        text.append(repr(p.default))
        text.append(str(p.envvar or ""))
    return set(re.findall(r"[A-Za-z]+", " ".join(text)))


def test_help_text_has_descriptions_one_default_style_and_no_split_words():
    generic = set(re.findall(r"[A-Za-z]+", "Usage Options Show this message and exit default env var x FLOAT "
                                            "RANGE INTEGER TEXT FILE PATH minigumbel main h help OPTIONS required"))
    for name, cmd in _commands().items():
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name != "help":
                h = (p.help or "").strip()
                assert h and not h.startswith("["), f"{name} {p.opts}: no description"
                # defaults are shown one way, '[default: ...]' (click's or written out), never '[2]'
                assert not re.search(r"\[[^\],:\s]+\]\.?$", h), f"{name} {p.opts}: {h!r}"   # '[1e-4, 1e4]' is a range
        words = _source_words(cmd) | generic
        for width in (60, 80, 100, 120):
            out = _help(name, width)
            unknown = set(re.findall(r"[A-Za-z]+", out)) - words
            assert not unknown, (name, width, sorted(unknown))             # e.g. 'tra' 'ining'
            assert not re.search(r"[a-z]- [A-Z]", out), (name, width)       # e.g. 'Gumbel- Softmax'


@pytest.mark.parametrize("args, shown", [(SAMPLE, "chi-square"),
                                         (["estimators", "--samples", "50", "--tau", "1", "--estimators", "st"],
                                          "bias ± s.e."),
                                         (["sweep", "--steps", "5", "--seeds", "2", "--eval-size", "20", "-q"],
                                          "reach target")])
def test_a_json_file_that_cannot_be_written_comes_after_the_results(args, shown):
    """A full disk (/dev/full accepts the open and fails the write): the table is still printed,
    then one Error line naming the file, exit 2; the results were computed, so they are shown."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full (Linux)")
    p = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *args, "--json", "/dev/full"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and shown in p.stdout, (p.stdout, p.stderr)
    assert p.stderr.splitlines() == [p.stderr.strip()] and "cannot write /dev/full" in p.stderr, p.stderr
