"""Reading JSON that a user hands us (a sweep's results file, ``plot --from``): every way it can be
wrong is a ValueError naming the file and where in it, never a RecursionError, KeyError or
TypeError from deep inside the code that reads it.

A schema is a small Python value: ``int``, ``str``, ``NUMBER`` (a finite number), ``MAYBE_NUMBER``
(also null and the strings "inf", "-inf", "nan", as JSON writes non-finite numbers here), ``dict``
(any object), ``[item]`` (a non-empty list of items), or ``{"key": schema, "key?": schema}`` (an
object with these keys, "?" marking an optional one; other keys are allowed and not read).
"""
from __future__ import annotations

import json
import math
import os
import re

__all__ = ["load", "check", "NUMBER", "MAYBE_NUMBER"]

NUMBER, MAYBE_NUMBER = "a finite number", "a number"
NON_FINITE = ("inf", "-inf", "nan")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def load(path):
    """The JSON document in ``path``; ValueError "PATH is not JSON (line L column C: why)" otherwise."""
    name = os.fspath(path)
    if os.path.exists(name) and not os.path.isfile(name):   # opening a pipe to read waits for a writer
        raise ValueError(f"{name} is not a regular file (a folder, a pipe or a device)")
    with open(path, "rb") as fh:
        data = fh.read()
    return loads(data, name)


def loads(data, name):
    """``data`` (str or bytes) parsed; ValueError naming ``name`` when it is not JSON."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise ValueError(f"{name} is not JSON this program reads (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:                                  # e.g. a checkpoint .npz
        raise ValueError(f"{name} is not JSON (not UTF-8 text)") from None
    # "\udXXX" escapes are valid JSON, but one without its pair is no character (nothing can print
    # or draw it); the walk runs only when the text holds such an escape
    if _SURROGATE.search(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name} is not JSON this program reads (a string holds a lone surrogate, "
                             f"{exc.object[exc.start:exc.end].encode('unicode_escape').decode()})") from None
        except RecursionError:
            raise ValueError(f"{name} is not JSON this program reads (nested too deeply)") from None
    return doc


def is_number(value, finite=True) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return not finite or math.isfinite(value)
    except OverflowError:                                       # an int beyond float range
        return False


def check(obj, schema, where=""):
    """Raise ValueError("WHERE: what is wrong") when ``obj`` does not fit ``schema`` (see the module)."""
    def fail(expected):
        shown = json.dumps(obj)[:40] if isinstance(obj, (str, int, float, bool, type(None))) else type(obj).__name__
        raise ValueError(f"{where or 'the document'} must be {expected}, got {shown}")
    if schema is NUMBER:
        if not is_number(obj):
            fail("a finite number")
    elif schema is MAYBE_NUMBER:
        if not (obj is None or obj in NON_FINITE or is_number(obj, finite=False)):
            fail("a number (or null, \"inf\", \"-inf\", \"nan\")")
    elif schema is int:
        if isinstance(obj, bool) or not isinstance(obj, int):
            fail("an integer")
    elif schema is str:
        if not isinstance(obj, str):
            fail("a string")
    elif schema is dict:
        if not isinstance(obj, dict):
            fail("an object")
    elif isinstance(schema, list):
        if not isinstance(obj, list) or not obj:
            fail("a non-empty list")
        for i, item in enumerate(obj):
            check(item, schema[0], f"{where}[{i}]")
    elif isinstance(schema, dict):
        if not isinstance(obj, dict):
            fail("an object")
        for key, sub in schema.items():
            name = key.rstrip("?")
            if name in obj:
                check(obj[name], sub, f"{where}.{name}" if where else name)
            elif not key.endswith("?"):
                raise ValueError(f"{where or 'the document'} has no {name!r}")
    else:                                                       # pragma: no cover - a schema error
        raise TypeError(f"unknown schema {schema!r}")
    return obj
