"""Write names.json: the public names of the real CuPy that the stand-in may offer.

    python tests/cupy_standin/make_names.py            # rewrite names.json from the installed CuPy
    python tests/cupy_standin/make_names.py --check    # exit 1 if names.json differs from it
                                                       # (3: no CuPy here; 4: another CuPy version)

CuPy imports without a GPU (only its first CUDA call fails), so this runs on any machine with a
``cupy-cuda12x``/``cupy-cuda13x`` wheel installed. Recorded per level: the module's names, and
which of them are NumPy's very objects (dtypes, constants, finfo...); ``random``'s names;
``random.Generator``'s methods and their signatures; ``ndarray``'s attributes; ``cuda`` and
``cuda.runtime``'s names.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "names.json")


def public(obj):
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def collect():
    import cupy
    import numpy
    cupy.random.Generator, cupy.random.default_rng    # cupy.random loads these lazily: list them
    module = public(cupy)
    return {
        "cupy_version": cupy.__version__,
        "module": module,
        "numpy_objects": [n for n in module if getattr(cupy, n) is getattr(numpy, n, object())],
        "random": public(cupy.random),
        "random.Generator": public(cupy.random.Generator),
        "ndarray": sorted(n for n in dir(cupy.ndarray) if not n.startswith("_") or
                          (n.startswith("__") and n not in dir(object))),
        "cuda": public(cupy.cuda),
        "cuda.runtime": public(cupy.cuda.runtime),
        # the first docstring line of each Generator method is its signature (Cython hides it elsewhere)
        "random.Generator signatures": {n: (getattr(cupy.random.Generator, n).__doc__ or "").strip().split("\n")[0]
                                        for n in public(cupy.random.Generator)},
    }


def main(argv):
    try:
        names = collect()
    except ImportError as exc:
        print(f"CuPy is not installed here ({exc})")
        return 3
    text = json.dumps(names, indent=1, sort_keys=True) + "\n"
    if "--check" in argv:
        with open(PATH) as f:
            old = json.load(f)
        if old["cupy_version"] != names["cupy_version"]:
            print(f"names.json is from CuPy {old['cupy_version']}, CuPy {names['cupy_version']} is installed")
            return 4
        if old != names:
            for key in names:
                if old.get(key) == names[key]:
                    continue
                if isinstance(names[key], str):
                    print(f"{key}: {old.get(key)!r} in names.json, {names[key]!r} in CuPy")
                    continue
                extra, missing = set(old.get(key, [])) - set(names[key]), set(names[key]) - set(old.get(key, []))
                if extra or missing:
                    print(f"{key}: only in names.json {sorted(extra)[:20]}, only in CuPy {sorted(missing)[:20]}")
            return 1
        return 0
    with open(PATH, "w") as f:
        f.write(text)
    print(f"wrote {PATH} from CuPy {names['cupy_version']}: {len(names['module'])} module names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
