"""The embedded dataset: 10,000 real MNIST digits shipped inside the package.

They are the official MNIST *test* digits (LeCun, Cortes and Burges), in the
original IDX files. Split deterministically and stratified by class into
8,000 training and 2,000 test digits (seed 0), so everything runs offline.
Results on it are "mnist_sample", never "MNIST".
"""

import gzip
import os

import numpy as np

DIRECTORY = os.path.join(os.path.dirname(__file__), "mnist_sample")
IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_idx(path):
    """Reads a gzipped IDX file (the MNIST format) into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != np.prod(shape):
        raise ValueError(f"{path}: expected {np.prod(shape)} values, found {array.size}")
    return array.reshape(shape)


def stratified_split(labels, test_fraction, seed):
    """Returns `(train_indices, test_indices)`, each class split in proportion."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = int(round(len(members) * test_fraction))
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_arrays(directory=DIRECTORY):
    """Returns `((x_train, y_train), (x_test, y_test))`: uint8 28x28x1, int64."""
    images = read_idx(os.path.join(directory, IMAGES_FILE))[..., np.newaxis]
    labels = read_idx(os.path.join(directory, LABELS_FILE)).astype(np.int64)
    train, test = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)
    return (images[train], labels[train]), (images[test], labels[test])
