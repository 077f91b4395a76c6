"""Binarized handwritten digits, read from what is already on disk (nothing is ever downloaded).

- ``digits``: scikit-learn's bundled 8 × 8 digits (``sklearn.datasets.load_digits``: 1797 images
  shipped inside the package, pixel values 0–16), binarized x = (X > 7). The split is fixed:
  ``perm = numpy.random.default_rng(0).permutation(1797)``, train ``perm[:1500]``, test ``perm[1500:]``.
  scikit-learn is the optional extra ``data``.
- ``mnist``: the standard IDX files (LeCun et al. 1998) in a folder, plain or gzipped
  (``train-images-idx3-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``), binarized at 0.5 of the
  intensity range (pixel / 255 > 0.5), the standard 60k/10k split.

Every loader returns ``(train, test)``: float64 arrays of 0s and 1s, shape (N, D), one image per row.
Problems (scikit-learn missing, a missing or malformed file) are :class:`DataError` naming the
extra or the file.
"""
from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["DATASETS", "DataError", "load_dataset", "load_digits", "load_mnist", "read_idx",
           "write_idx", "MNIST_FILES", "DIGITS_SPLIT"]

DATASETS = ("digits", "mnist")
DIGITS_SPLIT = 1500                                  # train perm[:1500], test perm[1500:]
MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataError(ValueError):
    """A data set cannot be loaded: the message names the missing extra or the bad file."""


def load_digits():
    """scikit-learn's 8 × 8 digits binarized at X > 7: (train (1500, 64), test (297, 64))."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataError("the digits data set needs scikit-learn (the 'data' extra): "
                        "pip install 'minigumbel[data]'") from None
    X = sk_load_digits().data                                               # (1797, 64), values 0..16
    x = (X > 7).astype(np.float64)
    perm = np.random.default_rng(0).permutation(len(x))
    return x[perm[:DIGITS_SPLIT]], x[perm[DIGITS_SPLIT:]]


def _find(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise DataError(f"MNIST file {os.path.join(folder, name)}[.gz] not found (the standard IDX files "
                    f"{', '.join(MNIST_FILES.values())}, plain or .gz, are expected in --data-dir)")


def read_idx(path):
    """The array stored in one IDX file (plain or gzipped); DataError naming the file if malformed.

    Format: 2 zero bytes, a type byte, the number of dimensions n, n big-endian uint32 sizes, then
    the values in C order (big-endian for multi-byte types).
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:          # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read it ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] < 1:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise DataError(f"{path}: the header announces shape {shape} ({size} bytes of data) "
                        f"but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def write_idx(path, array):
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in .gz): for tests and tools."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + a.tobytes()
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as fh:
        fh.write(data)


def load_mnist(folder):
    """MNIST images from the IDX files in ``folder``, binarized at 0.5: (train (60000, 784),
    test (10000, 784)) for the standard files (any image count works)."""
    if folder is None:
        raise DataError("--data mnist needs --data-dir DIR, the folder holding the MNIST IDX files")
    out = []
    for name in MNIST_FILES.values():
        path = _find(folder, name)
        images = read_idx(path)
        if images.ndim != 3 or images.dtype != np.uint8 or images.shape[0] < 1:
            raise DataError(f"{path}: expected uint8 images of shape (N, rows, cols), "
                            f"got {images.dtype} {images.shape}")
        out.append((images.reshape(len(images), -1) / 255.0 > 0.5).astype(np.float64))
    if out[0].shape[1] != out[1].shape[1]:
        raise DataError(f"{folder}: train and test images differ in size ({out[0].shape[1]} vs "
                        f"{out[1].shape[1]} pixels)")
    return out[0], out[1]


def load_dataset(name, folder=None):
    """(train, test) binary images of data set ``name`` ("digits" or "mnist")."""
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist(folder)
    raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
