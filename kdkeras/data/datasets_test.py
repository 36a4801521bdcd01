import os

import numpy as np
import pytest
import tensorflow as tf

from kdkeras import data
from kdkeras.data import mnist_files, mnist_sample

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets", "mnist")


def test_mnist_sample_is_a_deterministic_stratified_split():
    (x_train, y_train), (x_test, y_test) = mnist_sample.load_arrays()
    assert x_train.shape == (8000, 28, 28, 1) and x_test.shape == (2000, 28, 28, 1)
    assert x_train.dtype == np.uint8
    train_share = np.bincount(y_train, minlength=10) / np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    np.testing.assert_allclose(train_share, 0.8, atol=0.002)
    (x_again, y_again), _ = mnist_sample.load_arrays()
    np.testing.assert_array_equal(y_train, y_again)
    np.testing.assert_array_equal(x_train[:50], x_again[:50])


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="../shared/datasets/mnist is absent")
def test_embedded_sample_is_the_shared_mnist_test_set():
    shared = mnist_sample.read_idx(os.path.join(SHARED_MNIST, mnist_sample.LABELS_FILE))
    embedded = mnist_sample.read_idx(os.path.join(mnist_sample.DIRECTORY, mnist_sample.LABELS_FILE))
    np.testing.assert_array_equal(shared, embedded)


def test_load_mnist_sample_yields_raw_pixels_in_batches():
    splits = data.load("mnist_sample", batch_size=64, validation_fraction=0.1)
    assert splits.info.input_shape == (28, 28, 1) and splits.info.num_classes == 10
    assert (splits.info.num_train, splits.info.num_validation, splits.info.num_test) == (7200, 800, 2000)
    images, labels = next(iter(splits.train))
    assert images.shape == (64, 28, 28, 1) and images.dtype == tf.float32 and labels.dtype == tf.int64
    assert float(tf.reduce_max(images)) > 1.0
    assert sum(int(y.shape[0]) for _, y in splits.validation) == 800
    assert sum(int(y.shape[0]) for _, y in splits.test) == 2000


@pytest.mark.parametrize(
    "name, shape, classes", [("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10), ("cifar100", (32, 32, 3), 100)]
)
def test_tfds_path_on_mock_data(name, shape, classes):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        splits = data.load(name, batch_size=8, augment=name != "mnist")
        images, labels = next(iter(splits.train))
    assert splits.info.input_shape == shape and splits.info.num_classes == classes
    assert images.shape == (8,) + shape and labels.dtype == tf.int64


def make_image_folder(root, shape=(12, 12, 3), classes=("cat", "dog"), per_class=3):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i in range(per_class):
                pixels = rng.integers(0, 255, size=shape, dtype=np.uint8)
                tf.io.write_file(os.path.join(folder, f"{i}.png"), tf.io.encode_png(pixels))
    return root


def test_image_folder(tmp_path):
    root = make_image_folder(str(tmp_path / "images"))
    splits = data.load(f"imagefolder:{root}", batch_size=4, augment=True)
    assert splits.info.input_shape == (12, 12, 3) and splits.info.num_classes == 2
    assert splits.info.num_train == 6 and splits.info.num_test == 6
    assert sum(int(y.shape[0]) for _, y in splits.train) == 6


def test_digits_are_shifted_and_the_rest_cropped_and_flipped():
    assert data.augmentation_for("mnist") is data.SHIFT and data.augmentation_for("mnist_sample") is data.SHIFT
    for name in ("cifar10", "cifar100", "imagefolder:data/cifar10-jpeg"):
        assert data.augmentation_for(name) is data.CROP_FLIP
    splits = data.load("mnist_sample", batch_size=64, augment=True)
    assert splits.augmentation is data.SHIFT
    images, _ = next(iter(splits.train))
    assert images.shape == (64, 28, 28, 1) and float(tf.reduce_min(images)) >= 0.0


def test_mnist_from_the_official_idx_files(tiny_mnist, capsys):
    folder, arrays = tiny_mnist
    splits = data.load("mnist", batch_size=4, data_dir=str(folder), announce=True)
    info = splits.info
    assert (info.num_train, info.num_test, info.input_shape, info.num_classes) == (6, 4, (28, 28, 1), 10)
    assert (
        f"[kdkeras] dataset mnist: 6 training and 4 test images (the official IDX files in {folder}"
        in capsys.readouterr().out
    )
    test_images = np.concatenate([x.numpy() for x, _ in splits.test])
    np.testing.assert_array_equal(test_images[..., 0], arrays[mnist_files.TEST_IMAGES])


def test_mnist_from_a_tfds_manual_download_folder(tiny_mnist, tmp_path_factory):
    folder, _ = tiny_mnist
    data_dir = tmp_path_factory.mktemp("tfds")
    manual = data_dir / "downloads" / "manual"
    os.makedirs(manual)
    for name in mnist_files.CHECKSUMS:
        os.symlink(folder / name, manual / name)
    splits = data.load("mnist", batch_size=4, data_dir=str(data_dir), validation_fraction=0.5)
    assert (splits.info.num_train, splits.info.num_validation, splits.info.num_test) == (3, 3, 4)


def test_mnist_folder_lacking_a_file_is_an_error_naming_it(tiny_mnist):
    folder, _ = tiny_mnist
    os.remove(folder / mnist_files.TEST_IMAGES)
    with pytest.raises(data.DatasetError, match=f"{mnist_files.TEST_IMAGES} is missing"):
        data.load("mnist", data_dir=str(folder))


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="../shared/datasets/mnist is absent")
def test_mnist_is_all_60000_training_and_10000_test_digits(capsys):
    splits = data.load("mnist", data_dir=SHARED_MNIST, augment=True, announce=True)
    assert (splits.info.num_train, splits.info.num_test) == (60_000, 10_000)
    assert "dataset mnist: 60000 training and 10000 test images" in capsys.readouterr().out
    assert splits.augmentation is data.SHIFT


@pytest.mark.parametrize("name", ["mnist_samples", "imagefolder:", "cifar1000"])
def test_unknown_dataset_names_the_flag(name):
    with pytest.raises(data.DatasetError, match="unknown dataset"):
        data.load(name)


def test_image_folder_without_splits_names_the_flag(tmp_path):
    with pytest.raises(data.DatasetError, match="image folder"):
        data.load(f"imagefolder:{tmp_path}")


def test_image_folder_with_an_empty_class_folder(tmp_path):
    root = make_image_folder(str(tmp_path / "images"))
    os.makedirs(os.path.join(root, "train", "bird"))
    os.makedirs(os.path.join(root, "test", "bird"))
    with pytest.raises(data.DatasetError, match="bird.*empty"):
        data.load(f"imagefolder:{root}")


def test_image_folder_with_a_file_that_is_not_an_image(tmp_path):
    root = make_image_folder(str(tmp_path / "images"))
    with open(os.path.join(root, "train", "cat", "broken.png"), "wb") as f:
        f.write(b"\\x89PNG this is not really a png")
    with pytest.raises(data.DatasetError, match="not a readable image"):
        data.load(f"imagefolder:{root}")


def test_image_folder_with_images_of_mixed_sizes(tmp_path):
    root = make_image_folder(str(tmp_path / "images"))
    pixels = np.zeros((20, 16, 3), np.uint8)
    tf.io.write_file(os.path.join(root, "train", "dog", "big.png"), tf.io.encode_png(pixels))
    with pytest.raises(data.DatasetError, match="different sizes"):
        data.load(f"imagefolder:{root}")


def test_every_pipeline_runs_without_tf_data_autotuning():
    """Autotuning would make each per-epoch `fit` wait for its tuner thread when the iterator is destroyed."""
    splits = data.load("mnist_sample", batch_size=64, augment=True, validation_fraction=0.1)
    table = np.zeros((1, splits.info.num_train, splits.info.num_classes), np.float32)
    pipelines = {
        "train": splits.train,
        "test": splits.test,
        "validation": splits.validation,
        "epoch_batches": splits.epoch_batches(0),
        "epoch_batches with a cache": splits.epoch_batches(0, {"teacher_logits": table}, skip_batches=2),
    }
    for name, dataset in pipelines.items():
        assert dataset.options().autotune.enabled is False, name
    images, labels = next(iter(pipelines["epoch_batches"]))
    assert images.shape == (64, 28, 28, 1) and labels.shape == (64,)
