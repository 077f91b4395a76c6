"""Data loaders: the digits split of the issue, MNIST IDX files (plain, .gz, missing, malformed)."""
import gzip
import struct
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel.data import DataError, load_digits, load_mnist, read_idx
from minigumbel_cli.main import main


def _idx_bytes(images):
    """IDX bytes written out by hand: magic 0x00000803, three big-endian uint32 sizes, uint8 pixels."""
    n, r, c = images.shape
    return struct.pack(">IIII", 0x803, n, r, c) + images.astype(np.uint8).tobytes()


def _write_mnist(folder, gz=False, n_train=6, n_test=3):
    rng = np.random.default_rng(0)
    out = {}
    for name, n in (("train-images-idx3-ubyte", n_train), ("t10k-images-idx3-ubyte", n_test)):
        images = rng.integers(0, 256, size=(n, 4, 4))
        images[0, 0, :2] = [127, 128]                 # 127/255 < 0.5 -> 0, 128/255 > 0.5 -> 1
        data = _idx_bytes(images)
        path = folder / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        out[name] = images
    return out


def test_digits_split_is_the_issues():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits as sk
    X = sk().data
    perm = np.random.default_rng(0).permutation(1797)
    train, test = load_digits()
    assert train.shape == (1500, 64) and test.shape == (297, 64)
    assert np.array_equal(train, X[perm[:1500]] > 7) and np.array_equal(test, X[perm[1500:]] > 7)
    assert train.dtype == np.float64 and set(np.unique(train)) == {0.0, 1.0}


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)      # import fails as if not installed
    with pytest.raises(DataError, match=r"minigumbel\[data\]"):
        load_digits()
    r = CliRunner().invoke(main, ["train", "--task", "vae", "--steps", "2", "-q"])
    assert r.exit_code == 2 and r.output.startswith("Error:") and "minigumbel[data]" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gz_binarized_at_half(tmp_path, gz):
    raw = _write_mnist(tmp_path, gz)
    train, test = load_mnist(str(tmp_path))
    assert train.shape == (6, 16) and test.shape == (3, 16)
    assert np.array_equal(train, (raw["train-images-idx3-ubyte"].reshape(6, 16) >= 128).astype(float))
    assert train[0, 0] == 0.0 and train[0, 1] == 1.0


def test_missing_and_malformed_idx_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist(str(tmp_path))
    _write_mnist(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 3, 4, 4) + b"\x00" * 10)   # 48 bytes announced
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*announces"):
        load_mnist(str(tmp_path))
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*magic"):
        read_idx(str(bad))
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="x.gz"):
        read_idx(str(tmp_path / "x.gz"))


def test_cli_mnist_missing_file_is_exit_2_naming_it_and_a_tiny_set_trains(tmp_path):
    r = CliRunner().invoke(main, ["train", "--task", "vae", "--data", "mnist", "--data-dir", str(tmp_path), "-q"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert r.output.startswith("Error:") and "train-images-idx3-ubyte" in r.output
    _write_mnist(tmp_path, gz=True, n_train=30, n_test=5)
    r = CliRunner().invoke(main, ["train", "--task", "vae", "--data", "mnist", "--data-dir", str(tmp_path),
                                  "--steps", "3", "--batch-size", "10", "-L", "2", "-K", "3", "-q"])
    assert r.exit_code == 0, r.output
    assert "vae on mnist (L = 2, K = 3)" in r.output
