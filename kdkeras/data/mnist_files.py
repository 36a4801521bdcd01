"""The full MNIST dataset from the four official IDX files, checked, with no network.

`--dataset=mnist --data_dir=DIR` reads them when DIR holds them, or when
DIR is a tensorflow-datasets data folder holding them in its
manual-download folder (`DIR/downloads/manual/`); otherwise tfds loads
MNIST as usual. Each file must have the size and SHA-256 that
tensorflow-datasets registers for it (`url_checksums/mnist.txt`), so these
are the very files `tfds.load("mnist")` would download.
"""

import hashlib
import os

import numpy as np

from kdkeras.data.mnist_sample import read_idx
from kdkeras.errors import DatasetError

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
# (bytes, SHA-256) of each file, as tensorflow-datasets 4.9 registers them.
CHECKSUMS = {
    TRAIN_IMAGES: (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    TRAIN_LABELS: (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    TEST_IMAGES: (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    TEST_LABELS: (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
NUM_TRAIN, NUM_TEST = 60_000, 10_000
MANUAL_FOLDER = os.path.join("downloads", "manual")  # tfds's default manual_dir inside its data_dir


def find(data_dir):
    """The folder under `data_dir` meant to hold the IDX files (it or its tfds manual folder), else None.

    A folder holding any one of the four files is meant to hold them all,
    so `load_arrays` then names the ones it lacks.
    """
    if not data_dir:
        return None
    for folder in (data_dir, os.path.join(data_dir, MANUAL_FOLDER)):
        if any(os.path.isfile(os.path.join(folder, name)) for name in CHECKSUMS):
            return folder
    return None


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(folder):
    """Raises `DatasetError`, one line naming the file, unless each of the four is the official one."""
    for name, (size, digest) in CHECKSUMS.items():
        path = os.path.join(folder, name)
        expected = f"expected the official MNIST file of {size} bytes, SHA-256 {digest}"
        if not os.path.isfile(path):
            raise DatasetError(f"MNIST file {path} is missing; {expected}")
        found_size = os.path.getsize(path)
        if found_size != size:
            raise DatasetError(f"MNIST file {path} has {found_size} bytes; {expected}")
        found = sha256(path)
        if found != digest:
            raise DatasetError(f"MNIST file {path} has SHA-256 {found}; {expected}")


def load_arrays(folder):
    """`((x_train, y_train), (x_test, y_test))` from the checked files: uint8 28x28x1 images, int64 labels."""
    check(folder)
    arrays = []
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        x = read_idx(os.path.join(folder, images))[..., np.newaxis]
        y = read_idx(os.path.join(folder, labels)).astype(np.int64)
        arrays.append((x, y))
    return tuple(arrays)
