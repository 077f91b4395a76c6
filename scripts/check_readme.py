"""Run every command and snippet that README.md and docs/*.md show, and compare with what they show.

    python scripts/check_readme.py            # everything (the training grids take minutes)
    python scripts/check_readme.py --fast     # what is deterministic and quick (CI runs this)
    python scripts/check_readme.py --list     # every check, and how it is made

The script finds the fenced blocks itself. How the docs show commands:

- ```console: each line starting with `$ ` is a command, run from the repository root (in a
  scratch folder that links to it, so files a command writes land there); the lines after it, up
  to the next `$ ` line, are its standard output, compared exactly. A line `...` in a shown output
  stands for any number of lines. Timings (a number followed by s, ms or µs) are masked on both
  sides. A command that exits with a non-zero status fails, unless what it shows ends with the
  `Error:` line it prints.
- ```python: run as a script; if a ```text block follows (blank lines between at most), that is
  its printed output, compared exactly.
- ```bash: commands without a shown output; each is run and must exit with status 0 (marked slow:
  validated as below, never run, in --fast or not).
- ```text (not after a python block) is shown, not run. A block without a language is an error.
- An HTML comment on the line right above a block (several may be stacked) changes how it is
  checked: `<!-- check: slow -->` (not in --fast: there, its commands are validated as below and
  a python block is compiled), `<!-- check: table -->` (a training grid: compared within the
  intervals it prints), `<!-- check: tail -->` (the shown lines end the output),
  `<!-- check: mask REGEX -->` (what REGEX matches is masked on both sides), `<!-- check: skip
  REASON -->` (never run; its commands are validated). Words combine: `<!-- check: slow table -->`.

Validation without running (slow and skipped commands, and commands written inline in the prose,
`minigumbel …` in backticks): a `minigumbel` command must name a command that exists, options that
command has, and, where a value is literal, a value its option accepts (choices, numbers, ranges);
`python FILE` needs FILE, and each `--option` given must appear in `python FILE --help`; `pytest`
paths must exist; `pip install '.[extra]'` extras must exist in pyproject.toml; a script run by
`bash`/`sh` must exist; `nox -s NAME` must name a session of noxfile.py. Relative links and images
must resolve: the file exists, and a #anchor names a heading of the linked Markdown file.

Training grids (`table`) vary across machines run by run, so they are compared within the
uncertainty they print: the same text lines and rows; each metric's 95% interval for the median
overlapping the shown one; each count of seeds reaching the target consistent with the shown one
(Fisher's exact test, 5%).
"""
from __future__ import annotations

import argparse
import difflib
import functools
import glob
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTERVAL = re.compile(r"(\S+) \[(\S+), (\S+)\]")
TIMING = r"\b\d+(?:\.\d+)?\s?(?:s|ms|µs)\b"
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")
COMMENT = re.compile(r"^\s*<!--\s*check:\s*(.*?)\s*-->\s*$")
INLINE = re.compile(r"`((?:minigumbel(?=[ `])|python (?:examples|scripts|benchmarks)/|pytest )[^`]*)`")
PLACEHOLDER = re.compile(r"[|…<>$]|\.\.\.|^[A-Z][A-Z0-9_]*(?:[=,.][A-Z0-9_,.=]*)?$|^[A-Z]+x[A-Z]+$")
WORDS = {"slow", "table", "tail"}


# ----------------------------------------------------------------------------- parsing

@dataclass
class Block:
    path: str                     # relative to ROOT
    line: int                     # 1-based line of the opening fence
    lang: str
    lines: list
    flags: set = field(default_factory=set)
    masks: list = field(default_factory=list)
    skip: str | None = None       # the reason
    output: "Block | None" = None # a python block's text block
    problems: list = field(default_factory=list)   # malformed check comments


def parse_check_comment(text, block):
    """Apply the words of one `<!-- check: ... -->` comment to block."""
    words = text.split()
    i = 0
    while i < len(words):
        w = words[i]
        if w == "mask":
            block.masks.append(" ".join(words[i + 1:]))
            return
        if w == "skip":
            block.skip = " ".join(words[i + 1:]) or "no reason given"
            return
        if w in WORDS:
            block.flags.add(w)
        else:
            block.problems.append(f"unknown check word {w!r} (known: {', '.join(sorted(WORDS))}, mask, skip)")
        i += 1


def parse_markdown(text, path="<string>"):
    """(blocks, inline commands) of a markdown text. Inline commands: [(path, line, command)], from the
    prose outside fenced blocks and outside HTML comments."""
    lines = text.splitlines()
    blocks, inline, comments = [], [], []
    i, prose_comment = 0, False
    para, para_start = [], 0

    def flush():
        joined = " ".join(para).replace("\\|", "|")
        for m in INLINE.finditer(joined):
            inline.append((path, para_start, m.group(1).strip()))
        para.clear()

    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            flush()
            indent, fence, lang = m.group(1), m.group(2), m.group(3)
            body, j = [], i + 1
            while j < len(lines) and not (set(lines[j].strip()) == {fence[0]} and len(lines[j].strip()) >= len(fence)):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
                j += 1
            b = Block(path, i + 1, lang, body)
            for c in comments:
                parse_check_comment(c, b)
            comments = []
            # a text block right after a python block is its output
            if lang == "text" and blocks and blocks[-1].lang == "python" and blocks[-1].output is None \
                    and getattr(blocks[-1], "_end", -10) >= 0 \
                    and all(not ln.strip() for ln in lines[blocks[-1]._end + 1:i]):
                blocks[-1].output = b
            else:
                blocks.append(b)
            b._end = j
            i = j + 1
            continue
        c = COMMENT.match(line)
        if c:
            comments.append(c.group(1))
            i += 1
            continue
        comments = []
        # prose: drop HTML comments, then find inline commands
        visible = ""
        rest = line
        while rest:
            if prose_comment:
                k = rest.find("-->")
                if k < 0:
                    rest = ""
                else:
                    prose_comment, rest = False, rest[k + 3:]
            else:
                k = rest.find("<!--")
                if k < 0:
                    visible, rest = visible + rest, ""
                else:
                    visible, rest, prose_comment = visible + rest[:k], rest[k + 4:], True
        if not visible.strip():
            flush()
        elif visible.lstrip().startswith("|"):        # a table row is a paragraph of its own
            flush()
            para_start = i + 1
            para.append(visible.strip())
            flush()
        else:
            if not para:
                para_start = i + 1
            para.append(visible.strip())
        i += 1
    flush()
    return blocks, inline


def console_commands(lines):
    """[(command, [output lines])] of a console block; a command may continue over lines ending in \\."""
    out, cur = [], None
    it = iter(lines)
    for line in it:
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\"):
                nxt = next(it, "")
                cmd = cmd[:-1] + " " + nxt.lstrip("> ").strip()
            cur = (cmd.strip(), [])
            out.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return out


def bash_commands(lines):
    """The commands of a bash block: one per line (joined over trailing backslashes), comments dropped."""
    out, acc = [], ""
    for line in lines:
        s = line.rstrip()
        if s.endswith("\\"):
            acc += s[:-1] + " "
            continue
        s = (acc + s).strip()
        acc = ""
        if s and not s.startswith("#"):
            out.append(s)
    return out


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


FILE_SPAN = re.compile(r"`((?:minigumbel|cli|tests|scripts|examples|benchmarks|docs)/[\w./-]*)(?:::[^`]*)?`")


def links(text, path="<string>"):
    """[(path, line, target)] of the relative links and images outside fenced blocks, and of the
    repository files named in inline code (`minigumbel/train.py`), as links from the root."""
    out, fence = [], None
    for k, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m and (fence is None or m.group(2).startswith(fence)):
            fence = None if fence else m.group(2)
            continue
        if fence is None:
            out += [(path, k, t) for t in LINK.findall(line) if not re.match(r"[a-z]+:", t)]
            out += [(path, k, "/" + t) for t in FILE_SPAN.findall(line)]
    return out


def headings(path):
    """The anchors of a markdown file's headings."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"(?ms)^\s*```.*?^\s*```", "", text)
    return {slug(m) for m in re.findall(r"(?m)^#+\s+(.*)$", text)}


def check_link(path, target):
    """[] when a relative link from path resolves: the file exists, and so does its #anchor."""
    file, _, anchor = target.partition("#")
    if file.startswith("/"):                                   # a file named in inline code
        dest = file[1:]
    else:
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
    if not os.path.exists(os.path.join(ROOT, dest)):
        ignored = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", dest], capture_output=True)
        return [] if ignored.returncode == 0 else [f"{dest} does not exist"]   # ignored: a command makes it
    if anchor and dest.endswith(".md") and anchor not in headings(dest):
        return [f"{dest} has no heading whose anchor is #{anchor}"]
    return []


def doc_files(root=ROOT):
    return ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))


def collect(root=ROOT):
    """(blocks, inline commands and links) of README.md and docs/*.md."""
    blocks, inline = [], []
    for rel in doc_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            text = fh.read()
        b, i = parse_markdown(text, rel)
        blocks += b
        inline += i + [(p, ln, "link " + t) for p, ln, t in links(text, rel)]
    return blocks, inline


# ----------------------------------------------------------------------------- comparing

def _masked(lines, masks):
    text = "\n".join(ln.rstrip() for ln in lines)
    for pattern in [TIMING, *masks]:
        text = re.sub(pattern, "<t>", text)
    out = text.splitlines()
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out


def matches(shown, got):
    """Whether got is shown, where a shown line '...' stands for any number of lines."""
    parts, cur = [], []
    for line in shown:
        if line.strip() == "...":
            parts.append(cur)
            cur = []
        else:
            cur.append(line)
    parts.append(cur)
    if len(parts) == 1:
        return shown == got
    first, *middle, last = parts
    if got[:len(first)] != first or (last and got[len(got) - len(last):] != last) or len(got) < len(first) + len(last):
        return False
    pos, end = len(first), len(got) - len(last)
    for part in middle:
        for k in range(pos, end - len(part) + 1):
            if got[k:k + len(part)] == part:
                pos = k + len(part)
                break
        else:
            return False
    return True


def compare_exact(shown, got, masks=(), tail=False):
    """[] when got is what is shown (tail: when it ends with it); else a diff."""
    shown, got = _masked(shown, masks), _masked(got, masks)
    if tail:
        shown = ["...", *shown]
    if matches(shown, got):
        return []
    return list(difflib.unified_diff([s for s in shown if s != "..."] if tail else shown, got,
                                     "shown", "re-run", lineterm="", n=1))


def parse_table(lines):
    """{row label: ([(median, lo, hi)], (k, n) or None)} of a sweep/compare table."""
    rows = {}
    for line in lines:
        cells = INTERVAL.findall(line)
        if not cells:
            continue
        label = line[:line.index(INTERVAL.search(line).group(0))].split()
        reach = re.search(r"(\d+)/(\d+)\s*$", line)
        rows[" ".join(label)] = ([tuple(float(x) for x in c) for c in cells],
                                 (int(reach.group(1)), int(reach.group(2))) if reach else None)
    return rows


def fisher_exact(k1, n1, k2, n2) -> float:
    """Two-sided p-value of Fisher's exact test that k1/n1 and k2/n2 come from one proportion."""
    total, hits = n1 + n2, k1 + k2

    def prob(a):
        return math.comb(n1, a) * math.comb(n2, hits - a) / math.comb(total, hits)
    observed = prob(k1)
    lo, hi = max(0, hits - n2), min(n1, hits)
    return min(1.0, sum(prob(a) for a in range(lo, hi + 1) if prob(a) <= observed * (1 + 1e-9)))


def compare_table(shown, got):
    """(problems, identical) for a training grid compared within the uncertainty it prints."""
    problems = []
    rows_s, rows_g = parse_table(shown), parse_table(got)
    # every line but the rows (title, column names, notes) the same, up to column padding
    text_s, text_g = ([" ".join(ln.split()) for ln in t if ln.strip() and not INTERVAL.search(ln)] for t in (shown, got))
    if text_s != text_g:
        problems += [f"text differs: {ln}" for ln in difflib.unified_diff(text_s, text_g, lineterm="", n=0)
                     if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    if list(rows_s) != list(rows_g):
        return problems + [f"rows differ: shown {list(rows_s)}, re-run {list(rows_g)}"], False
    exact = True
    for label, (cells_s, reach_s) in rows_s.items():
        cells_g, reach_g = rows_g[label]
        for col, ((med_s, lo, hi), (med_g, lo_g, hi_g)) in enumerate(zip(cells_s, cells_g)):
            exact &= (med_s, lo, hi) == (med_g, lo_g, hi_g)
            if hi_g < lo or lo_g > hi:
                problems.append(f"{label}, column {col + 1}: the re-run's 95% interval for the median "
                                f"[{lo_g:g}, {hi_g:g}] (median {med_g:g}) does not overlap the shown "
                                f"[{lo:g}, {hi:g}] (median {med_s:g})")
        if reach_s and reach_g:
            exact &= reach_s == reach_g
            p = fisher_exact(reach_s[0], reach_s[1], reach_g[0], reach_g[1])
            if p < 0.05:
                problems.append(f"{label}: {reach_g[0]}/{reach_g[1]} seeds reach the target, shown "
                                f"{reach_s[0]}/{reach_s[1]} (Fisher's exact test p = {p:.3f} < 0.05)")
    return problems, exact


# ----------------------------------------------------------------------------- validating without running

def strip_comment(cmd):
    """cmd without a trailing shell comment (a # after a space, outside quotes)."""
    quote = None
    for k, ch in enumerate(cmd):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or cmd[k - 1].isspace()):
            return cmd[:k].rstrip()
    return cmd


def split_commands(cmd):
    """The simple commands of a shell line: split at &&, ||, ; and ' | '; redirections dropped."""
    parts = re.split(r"\s*(?:&&|\|\||;|\s\|\s)\s*", strip_comment(cmd))
    out = []
    for p in parts:
        try:
            toks = shlex.split(p, comments=True)
        except ValueError:
            toks = p.split()
        clean, skip = [], False
        for t in toks:
            if skip:
                skip = False
                continue
            if re.fullmatch(r"\d?>>?|<", t):
                skip = True
                continue
            if re.fullmatch(r"\d?>>?\S+|\d>&\d", t):
                continue
            clean.append(t)
        while clean and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", clean[0]):   # VAR=value prefixes
            clean.pop(0)
        if clean and clean[0] in ("/usr/bin/time", "time"):
            clean.pop(0)
            while clean and clean[0].startswith("-"):
                clean = clean[2:] if clean[0] in ("-f", "-o") else clean[1:]
        if clean:
            out.append(clean)
    return out


@functools.lru_cache(maxsize=None)
def _cli():
    from minigumbel_cli.main import main as group
    return group


def _is_placeholder(value):
    return bool(PLACEHOLDER.search(value)) or value == ""


def _check_value(param, value, ctx):
    import click
    if _is_placeholder(value):
        return []
    kinds = (click.Choice, click.types.IntParamType, click.types.FloatParamType, click.types.BoolParamType)
    if not isinstance(param.type, kinds):
        return []
    try:
        param.type.convert(value, param, ctx)
    except click.BadParameter as exc:
        return [f"{param.opts[0] if param.opts else param.name}: {exc.format_message()}"]
    return []


def validate_minigumbel(toks):
    import click
    group = _cli()
    args = toks[1:]
    while args and args[0].startswith("-"):
        if args[0] not in ("--help", "-h", "--version"):
            return [f"minigumbel has no option {args[0]}"]
        args = args[1:]
    if not args:
        return []
    sub = args[0]
    if _is_placeholder(sub):
        return []
    cmd = group.get_command(None, sub)
    if cmd is None:
        return [f"no command 'minigumbel {sub}'"]
    ctx = click.Context(cmd, info_name=sub)
    options, positionals = {}, [p for p in cmd.params if isinstance(p, click.Argument)]
    for p in cmd.params:
        if isinstance(p, click.Option):
            for o in p.opts + p.secondary_opts:
                options[o] = p
    problems, i, ai = [], 0, 0
    rest = args[1:]
    while i < len(rest):
        t = rest[i]
        if t == "--":
            break
        if t.startswith("-") and len(t) > 1 and not re.fullmatch(r"-[\d.]+(,.*)?", t):
            name, eq, value = t.partition("=")
            if name in ("--help", "-h"):
                i += 1
                continue
            p = options.get(name)
            if p is None:
                problems.append(f"'minigumbel {sub}' has no option {name}")
            elif not (p.is_flag or p.count):
                if not eq:
                    i += 1
                    value = rest[i] if i < len(rest) else ""
                problems += _check_value(p, value, ctx)
        elif ai < len(positionals):
            problems += _check_value(positionals[ai], t, ctx)
            if positionals[ai].nargs == 1:
                ai += 1
        elif not _is_placeholder(t):
            problems.append(f"'minigumbel {sub}' takes no argument {t!r}")
        i += 1
    return problems


@functools.lru_cache(maxsize=None)
def _script_help(path):
    p = subprocess.run([sys.executable, path, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return p.stdout + p.stderr if p.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def _extras():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        text = fh.read()
    section = text.split("[project.optional-dependencies]", 1)[-1].split("\n[", 1)[0]
    return set(re.findall(r"(?m)^([A-Za-z0-9_-]+)\s*=", section))


def _exists(path):
    return os.path.exists(os.path.join(ROOT, path))


def validate(cmd):
    """(problems, how) of a command checked without running it; how is None when nothing here
    knows how to check it."""
    problems, hows = [], []
    for toks in split_commands(cmd):
        head = toks[0]
        if head == "minigumbel":
            problems += validate_minigumbel(toks)
            hows.append("options")
        elif head in ("python", "python3") and len(toks) > 2 and toks[1] == "-m" and toks[2] == "pytest":
            problems += _validate_pytest(toks[3:])
            hows.append("paths")
        elif head == "pytest":
            problems += _validate_pytest(toks[1:])
            hows.append("paths")
        elif head in ("python", "python3") and len(toks) > 1 and toks[1].endswith(".py"):
            script = toks[1]
            if not _exists(script):
                problems.append(f"{script} does not exist")
            else:
                opts = [t.split("=")[0] for t in toks[2:] if t.startswith("--")]
                if opts:
                    text = _script_help(script)
                    if text is None:
                        problems.append(f"python {script} --help fails")
                    else:
                        problems += [f"python {script} has no option {o}" for o in opts
                                     if not re.search(re.escape(o) + r"\b", text)]
            hows.append("options")
        elif head == "pip" and len(toks) > 1 and toks[1] == "install":
            for t in toks[2:]:
                m = re.fullmatch(r"(?:-e\s*)?\.\[([^\]]*)\]", t)
                if m:
                    problems += [f"pyproject.toml has no extra {e!r}" for e in m.group(1).split(",")
                                 if e and e not in _extras()]
                elif re.fullmatch(r"'?minigumbel\[([^\]]*)\]'?", t):
                    inner = re.search(r"\[([^\]]*)\]", t).group(1)
                    problems += [f"pyproject.toml has no extra {e!r}" for e in inner.split(",") if e not in _extras()]
            hows.append("extras")
        elif head in ("bash", "sh") and len(toks) > 1:
            if not _exists(toks[1]):
                problems.append(f"{toks[1]} does not exist")
            hows.append("exists")
        elif head.endswith(".sh") and "/" in head:
            if not _exists(head):
                problems.append(f"{head} does not exist")
            hows.append("exists")
        elif head == "nox":
            names = [toks[k + 1] for k, t in enumerate(toks[:-1]) if t in ("-s", "--session")]
            with open(os.path.join(ROOT, "noxfile.py"), encoding="utf-8") as fh:
                nox_text = fh.read()
            problems += [f"noxfile.py has no session {n}" for n in names
                         if not re.search(rf"def {re.escape(n.split('-')[0])}\(", nox_text)]
            hows.append("sessions")
        else:
            hows.append(None)
    how = None if None in hows or not hows else "+".join(sorted(set(hows)))
    return problems, how


def _validate_pytest(args):
    problems = []
    for t in args:
        if t.startswith("-") or t == "--":
            continue
        path = t.split("::")[0]
        if path.startswith("tests") and not _exists(path):
            problems.append(f"{path} does not exist")
    return problems


# ----------------------------------------------------------------------------- running

@dataclass
class Check:
    where: str                    # path:line
    kind: str                     # console | python | bash | inline
    mode: str                     # exact | tail | table | run | compile | validate | skip
    fast: bool
    command: str                  # the command, or the first line of a snippet
    block: Block | None = None
    shown: list = field(default_factory=list)
    reason: str = ""


def plan(blocks, inline, fast):
    """Every check, in the order of the docs. In --fast, slow ones are validated (commands) or
    compiled (python) instead of run."""
    checks = []
    for b in blocks:
        where = f"{b.path}:{b.line}"
        slow, skip = "slow" in b.flags, b.skip is not None
        for prob in b.problems:
            checks.append(Check(where, b.lang or "?", "error", True, prob, b))
        if b.lang == "console":
            mode = "table" if "table" in b.flags else "tail" if "tail" in b.flags else "exact"
            for cmd, shown in console_commands(b.lines):
                if skip:
                    checks.append(Check(where, "console", "validate", True, cmd, b, reason=b.skip))
                elif slow and fast:
                    checks.append(Check(where, "console", "validate", True, cmd, b, reason="slow"))
                else:
                    checks.append(Check(where, "console", mode, not slow, cmd, b, shown))
            if not console_commands(b.lines):
                checks.append(Check(where, "console", "error", True, "a console block without a '$ ' command", b))
        elif b.lang == "python":
            first = next((ln for ln in b.lines if ln.strip() and not ln.startswith(("import", "from", "#"))), "")
            shown = b.output.lines if b.output else None
            if skip or (slow and fast):
                checks.append(Check(where, "python", "compile", True, first.strip(), b, reason=b.skip or "slow"))
            else:
                checks.append(Check(where, "python", "exact" if shown is not None else "run", not slow,
                                    first.strip(), b, shown or []))
        elif b.lang in ("bash", "sh", "shell"):
            for cmd in bash_commands(b.lines):
                if skip or slow:                    # a slow bash block is validated, never run
                    checks.append(Check(where, "bash", "validate", True, cmd, b, reason=b.skip or "slow"))
                else:
                    checks.append(Check(where, "bash", "run", not slow, cmd, b))
        elif b.lang == "":
            checks.append(Check(where, "?", "error", True,
                                "a fenced block without a language (console, python, bash or text)", b))
    for path, line, cmd in inline:
        if cmd.startswith("link "):
            checks.append(Check(f"{path}:{line}", "link", "exists", True, cmd[5:], reason=path))
        else:
            checks.append(Check(f"{path}:{line}", "inline", "validate", True, cmd))
    return checks


class Scratch:
    """A scratch folder whose entries link to the repository's top level: commands find every file
    of the checkout, and files they write land in the scratch folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="check_readme_")
        for name in os.listdir(ROOT):
            if name in (".git",):
                continue
            os.symlink(os.path.join(ROOT, name), os.path.join(self.dir, name))
        self.bin = os.path.join(self.dir, ".bin")          # `python` is this interpreter
        os.mkdir(self.bin)
        for name in ("python", "python3"):
            os.symlink(sys.executable, os.path.join(self.bin, name))

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _env(bin_dir=None):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*([bin_dir] if bin_dir else []), os.path.dirname(sys.executable),
                                   env.get("PATH", "")])
    env.setdefault("COLUMNS", "80")
    return env


def run_shell(cmd, cwd, timeout):
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env=_env(os.path.join(cwd, ".bin")))
    return p.returncode, p.stdout.rstrip("\n").splitlines(), p.stderr


def run_python(source, cwd, timeout):
    path = os.path.join(cwd, "_snippet.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(source)
    p = subprocess.run([sys.executable, path], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env())
    return p.returncode, p.stdout.rstrip("\n").splitlines(), p.stderr


_RAN = {}      # command -> (status, stdout lines, stderr) of a console block's only command


def execute(check, scratch, timeout):
    """(problems, verdict, output lines)."""
    b = check.block
    if check.mode == "error":
        return [check.command], "", []
    if check.mode == "exists":
        return check_link(check.reason, check.command), "resolves", []
    if check.mode == "validate":
        problems, how = validate(check.command)
        return problems, f"validated: {how}" if how else "not validated (nothing here knows this command)", []
    if check.mode == "compile":
        try:
            compile("\n".join(b.lines), check.where, "exec")
        except SyntaxError as exc:
            return [f"SyntaxError: {exc}"], "", []
        return [], "compiled", []
    if check.kind == "python":
        rc, got, err = run_python("\n".join(b.lines) + "\n", scratch.dir, timeout)
        if rc != 0:
            return [f"exit status {rc}: {err.strip()[-800:]}"], "", got
        if check.mode == "run":
            return [], "ran", got
        masks = b.masks + (b.output.masks if b.output else [])
        problems = compare_exact(check.shown, got, masks)
        return problems, "identical", got
    # a block holding only this command, which another such block ran already: its output is reused
    first = check.kind == "console" and console_commands(b.lines) == [(check.command, check.shown)]
    if first and check.command in _RAN:
        rc, got, err = _RAN[check.command]
    else:
        rc, got, err = run_shell(check.command, scratch.dir, timeout)
        if first:
            _RAN[check.command] = (rc, got, err)
    if check.mode == "run":
        return ([f"exit status {rc}: {err.strip()[-800:]}"] if rc != 0 else []), "ran", got
    if rc != 0:
        shown_err = [ln for ln in check.shown if ln.startswith("Error:")]
        if not shown_err:
            return [f"exit status {rc}: {err.strip()[-800:]}"], "", got
        got = got + err.rstrip("\n").splitlines()
    if check.mode == "table":
        problems, exact = compare_table(check.shown, got)
        return problems, "identical" if exact and not problems else "within the printed uncertainty", got
    return compare_exact(check.shown, got, b.masks, tail=check.mode == "tail"), "identical", got


def run_checks(checks, timeout=3600, save=None, report=print, verbose=False):
    """Run checks in order; [(check, problems, verdict, seconds)]. Commands of one block share a
    scratch folder."""
    results, scratches = [], {}
    try:
        for c in checks:
            key = (c.block.path, c.block.line) if c.block is not None else None
            if key and key not in scratches and c.mode not in ("validate", "compile", "error"):
                scratches[key] = Scratch()
            t0 = time.monotonic()
            try:
                problems, verdict, got = execute(c, scratches.get(key), timeout)
            except subprocess.TimeoutExpired:
                problems, verdict, got = [f"timed out after {timeout:g} s"], "", []
            took = time.monotonic() - t0
            results.append((c, problems, verdict, took))
            if save and got:
                os.makedirs(save, exist_ok=True)
                name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{c.where}_{c.command}")[:120].strip("_") + ".txt"
                with open(os.path.join(save, name), "w", encoding="utf-8") as fh:
                    fh.write("\n".join(got) + "\n")
            if problems:
                report(f"FAIL  {c.where}  {c.kind} {c.mode}: {c.command[:120]}  ({took:.0f} s)")
                report("\n".join("      " + line for line in problems))
            elif verbose or c.mode not in ("validate", "compile", "exists"):
                report(f"ok    {c.where}  {c.kind} {c.mode}: {c.command[:100]}  ({verdict}; {took:.1f} s)")
    finally:
        for s in scratches.values():
            s.close()
    return results


def check_markdown(text, fast=False, path="<string>", timeout=600):
    """The results of checking one markdown text (for tests)."""
    blocks, inline = parse_markdown(text, path)
    return run_checks(plan(blocks, inline, fast), timeout=timeout, report=lambda *a: None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="skip what is marked slow (validate or compile it instead)")
    p.add_argument("--list", action="store_true", help="list the checks and how each is made, then exit")
    p.add_argument("--only", default=None, help="only the checks whose command or file:line contains this text, or of this kind (console, link, ...)")
    p.add_argument("--save", default=None, metavar="DIR", help="also write each re-run's output to a file in DIR")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per command [3600]")
    p.add_argument("-v", "--verbose", action="store_true", help="also list the validations that pass")
    a = p.parse_args(argv)
    blocks, inline = collect()
    checks = plan(blocks, inline, a.fast)
    if a.only:
        checks = [c for c in checks if a.only in c.command or a.only in c.where or a.only == c.kind]
    if a.list:
        for c in checks:
            extra = f"  [{c.reason}]" if c.reason else ""
            print(f"{c.where:28} {c.kind:8} {c.mode:8} {'fast' if c.fast else 'slow'}  {c.command[:100]}{extra}")
        print(summary(checks))
        return 0
    t0 = time.monotonic()
    results = run_checks(checks, a.timeout, a.save, verbose=a.verbose)
    failed = sum(1 for r in results if r[1])
    unknown = [c for c, problems, verdict, _ in results if verdict.startswith("not validated")]
    if unknown:
        print("commands nothing here knows how to validate (shown, not checked):")
        for c in unknown:
            print(f"      {c.where}  {c.command[:100]}")
    print(summary(checks))
    print(f"{len(checks) - failed} of {len(checks)} checks pass in {time.monotonic() - t0:.0f} s"
          + (" (--fast)" if a.fast else ""))
    return 1 if failed else 0


def summary(checks):
    """One line of counts: checks (commands, snippets, inline commands, links) by kind and mode, and
    the fenced blocks they come from."""
    counts, blocks = {}, {}
    for c in checks:
        counts[(c.kind, c.mode)] = counts.get((c.kind, c.mode), 0) + 1
        if c.block is not None:
            blocks.setdefault(c.kind, set()).add((c.block.path, c.block.line))
    return ("checks: " + ", ".join(f"{n} {kind} {mode}" for (kind, mode), n in sorted(counts.items()))
            + "\nfrom blocks: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(blocks.items())))


if __name__ == "__main__":
    sys.exit(main())
