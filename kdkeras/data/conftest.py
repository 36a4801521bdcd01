"""Fixtures of the data tests."""

import gzip
import hashlib
import os

import numpy as np
import pytest

from kdkeras.data import mnist_files


def write_idx(path, array):
    """An unsigned-byte IDX file, gzipped, written independently of `read_idx`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A folder of four small IDX files, registered as the official ones: `(folder, arrays)`."""
    rng = np.random.default_rng(0)
    arrays = {
        mnist_files.TRAIN_IMAGES: rng.integers(0, 256, (6, 28, 28)),
        mnist_files.TRAIN_LABELS: np.arange(6) % 10,
        mnist_files.TEST_IMAGES: rng.integers(0, 256, (4, 28, 28)),
        mnist_files.TEST_LABELS: np.arange(4) + 3,
    }
    checksums = {}
    for name, array in arrays.items():
        path = tmp_path / name
        write_idx(path, array)
        checksums[name] = (os.path.getsize(path), hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(mnist_files, "CHECKSUMS", checksums)
    return tmp_path, arrays
