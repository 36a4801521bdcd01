import hashlib
import os

import numpy as np
import pytest

from kdkeras.data import mnist_files, mnist_sample
from kdkeras.errors import DatasetError

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets", "mnist")
SHARED_MD5SUMS = os.path.join(SHARED_MNIST, "..", "MD5SUMS")


def test_reads_the_four_files(tiny_mnist):
    folder, arrays = tiny_mnist
    (x_train, y_train), (x_test, y_test) = mnist_files.load_arrays(str(folder))
    assert x_train.shape == (6, 28, 28, 1) and x_train.dtype == np.uint8 and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[..., 0], arrays[mnist_files.TRAIN_IMAGES])
    np.testing.assert_array_equal(y_test, arrays[mnist_files.TEST_LABELS])
    np.testing.assert_array_equal(x_test[..., 0], arrays[mnist_files.TEST_IMAGES])


def test_finds_the_folder_itself_or_the_tfds_manual_download_folder(tmp_path):
    assert mnist_files.find(str(tmp_path)) is None and mnist_files.find(None) is None
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    (manual / mnist_files.TEST_LABELS).write_bytes(b"")
    assert mnist_files.find(str(tmp_path)) == str(manual)
    (tmp_path / mnist_files.TRAIN_IMAGES).write_bytes(b"")
    assert mnist_files.find(str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize("name", list(mnist_files.CHECKSUMS))
def test_a_missing_file_is_one_line_naming_it(tiny_mnist, name):
    folder, _ = tiny_mnist
    os.remove(folder / name)
    with pytest.raises(DatasetError) as error:
        mnist_files.load_arrays(str(folder))
    message = str(error.value)
    assert "\n" not in message and f"{folder / name} is missing" in message
    assert mnist_files.CHECKSUMS[name][1] in message


@pytest.mark.parametrize("damage", ["flip_byte", "truncate"])
def test_a_file_that_is_not_the_official_one_is_one_line_naming_it(tiny_mnist, damage):
    folder, _ = tiny_mnist
    path = folder / mnist_files.TRAIN_LABELS
    content = bytearray(path.read_bytes())
    if damage == "flip_byte":
        content[-3] ^= 0xFF
    else:
        content = content[:-10]
    path.write_bytes(bytes(content))
    with pytest.raises(DatasetError) as error:
        mnist_files.load_arrays(str(folder))
    message = str(error.value)
    size, digest = mnist_files.CHECKSUMS[mnist_files.TRAIN_LABELS]
    assert "\n" not in message and str(path) in message and f"{size} bytes, SHA-256 {digest}" in message
    assert ("has SHA-256" if damage == "flip_byte" else f"has {size - 10} bytes") in message


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="../shared/datasets/mnist is absent")
def test_the_shared_files_are_the_official_ones_tfds_registers():
    mnist_files.check(SHARED_MNIST)
    # The MD5 sums published beside them describe the same four files.
    md5 = dict(line.split()[::-1] for line in open(SHARED_MD5SUMS) if line.strip())
    for name in mnist_files.CHECKSUMS:
        with open(os.path.join(SHARED_MNIST, name), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5[f"mnist/{name}"]
    (x_train, y_train), (x_test, y_test) = mnist_files.load_arrays(SHARED_MNIST)
    assert (len(x_train), len(y_train), len(x_test), len(y_test)) == (60_000, 60_000, 10_000, 10_000)
    assert x_train.shape[1:] == (28, 28, 1) and set(np.unique(y_train)) == set(range(10))
    # The embedded sample is cut from these test digits.
    embedded = mnist_sample.read_idx(os.path.join(mnist_sample.DIRECTORY, mnist_sample.LABELS_FILE))
    np.testing.assert_array_equal(y_test, embedded)
