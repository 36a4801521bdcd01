"""Train, validation and test `tf.data` pipelines by dataset name."""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from kdkeras.data import mnist_files, mnist_sample
from kdkeras.data.augmentation import CROP_FLIP, SHIFT
from kdkeras.errors import DatasetError

# Per-channel (mean, std) on the 0-1 scale, used as each model's first layer.
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "mnist_sample": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
TFDS_NAMES = ("mnist", "cifar10", "cifar100")
NAMES = ("mnist_sample",) + TFDS_NAMES + ("imagefolder:PATH",)

# Every pipeline kdkeras trains or evaluates on runs with tf.data's autotuning off, with fixed
# parallelism and prefetching instead. With autotuning on, destroying a used
# iterator waits for the autotuner's background thread to wake up (TF 2.21):
# a `fit` or `evaluate` on a new dataset then returned seconds after its last
# batch (a 16 s ResNet8 epoch took 20.6 s in 3 of 5 fits), and kdkeras calls
# `fit` once per epoch. Decoding is cached, so per-epoch work (crop, flip,
# gather) is light and needs no tuning. `tools/bench_input_pipeline.py`.
PARALLEL_CALLS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
PREFETCH_BATCHES = 2


def fixed_pipeline(dataset, autotune=False):
    """`dataset` prefetching `PREFETCH_BATCHES`, with tf.data autotuning off unless `autotune`."""
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


@dataclasses.dataclass
class DatasetInfo:
    """What a model needs to know about a dataset."""

    name: str
    input_shape: tuple
    num_classes: int
    num_train: int
    num_test: int
    num_validation: int = 0
    normalization: tuple = None


@dataclasses.dataclass
class Splits:
    """Batched pipelines yielding `(pixels, label)`; pixels are raw 0-255 floats."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    info: DatasetInfo
    validation: tf.data.Dataset = None
    train_examples: tf.data.Dataset = None
    batch_size: int = 128
    augment: bool = False
    augmentation: object = CROP_FLIP  # the views `augment` makes (`augmentation_for(name)`)
    seed: int = 0
    shuffle_buffer: int = 10_000
    autotune: bool = False  # tf.data autotuning of `epoch_batches` (see `fixed_pipeline`)

    def epoch_batches(self, epoch, cached=None, skip_batches=0):
        """The training batches of (0-based) `epoch`: what every run trains on.

        The epoch's order depends on the seed and the epoch alone, and with
        augmentation example `i`'s view is
        `self.augmentation.view_of(seed, epoch, i)`, so the
        batches do not depend on what ran before in the process: a run
        resumed at batch `skip_batches` goes on with the very batches an
        uninterrupted one would see, and a teacher cache holds the logits of
        exactly these views.

        Args:
            epoch: the epoch, from 0.
            cached: `{name: table}`, a frozen model's logits for every
                training example (`table[view, example]`, views by epoch
                with augmentation, one view without): each batch then
                carries its rows under `name` beside `"images"`.
            skip_batches: batches of the epoch left out (already trained).
        """
        view = epoch if self.augment else 0
        rows = {name: tf.constant(np.asarray(table[view], dtype=np.float32)) for name, table in (cached or {}).items()}
        augment, augmentation, seed, names = self.augment, self.augmentation, self.seed, sorted(rows)
        epoch_seed = seed * 1_000_003 + epoch
        order = self.train_examples.enumerate().shuffle(
            self.shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False
        )
        order = order.skip(skip_batches * self.batch_size)

        def cut(index, example):
            images, label = example
            if augment:
                images = augmentation.apply(images, augmentation.view_of(seed, epoch, index))
            return images, label, index

        def attach(images, labels, indices):
            if not names:
                return images, labels
            inputs = {IMAGES: images}
            for name in names:
                inputs[name] = tf.gather(rows[name], indices)
            return inputs, labels

        batches = order.map(cut, num_parallel_calls=PARALLEL_CALLS).batch(self.batch_size)
        return fixed_pipeline(batches.map(attach), self.autotune)


def _from_arrays(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y))


def _load_mnist_sample():
    (x_train, y_train), (x_test, y_test) = mnist_sample.load_arrays()
    return _from_arrays(x_train, y_train), _from_arrays(x_test, y_test), len(y_train), len(y_test), 10


def _load_mnist_files(folder):
    (x_train, y_train), (x_test, y_test) = mnist_files.load_arrays(folder)
    return _from_arrays(x_train, y_train), _from_arrays(x_test, y_test), len(y_train), len(y_test), 10


def _load_tfds(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        (train, test), info = tfds.load(
            name, split=["train", "test"], as_supervised=True, with_info=True, data_dir=data_dir
        )
    except Exception as error:  # tfds raises many kinds for a missing download
        idx_files = " or the four official IDX files (train-images-idx3-ubyte.gz, ...)" if name == "mnist" else ""
        raise DatasetError(
            f"tensorflow-datasets could not load {name!r} ({type(error).__name__}); "
            f"it needs the network or a data_dir / TFDS_DATA_DIR holding the prepared dataset{idx_files}"
        ) from None
    return (
        train,
        test,
        _num_examples(info, "train", train),
        _num_examples(info, "test", test),
        info.features["label"].num_classes,
    )


def _num_examples(info, split, dataset):
    """The split's size from the dataset info, else counted (tfds mock data has no split info)."""
    try:
        return info.splits[split].num_examples
    except KeyError:
        cardinality = int(dataset.cardinality())
        return cardinality if cardinality >= 0 else int(dataset.reduce(0, lambda count, _: count + 1))


def _load_image_folder(root):
    import tensorflow_datasets as tfds

    classes = {}
    for split in ("train", "test"):
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            raise DatasetError(f"image folder {root}: expected a folder {folder} of class folders")
        classes[split] = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
        if not classes[split]:
            raise DatasetError(f"image folder {root}: {folder} has no class folders")
        for name in classes[split]:
            if not os.listdir(os.path.join(folder, name)):
                raise DatasetError(f"image folder {root}: the class folder {os.path.join(folder, name)} is empty")
    if classes["train"] != classes["test"]:
        raise DatasetError(f"image folder {root}: train/ and test/ must hold the same class folders")
    try:
        builder = tfds.ImageFolder(root)
    except Exception as error:
        raise DatasetError(f"image folder {root}: cannot read it as an image folder ({error})") from None
    splits = builder.info.splits
    if "train" not in splits or "test" not in splits or not splits["train"].num_examples:
        raise DatasetError(f"image folder {root}: expected images in train/<class>/ and test/<class>/")
    train = builder.as_dataset(split="train", as_supervised=True, shuffle_files=False)
    test = builder.as_dataset(split="test", as_supervised=True, shuffle_files=False)
    return (
        train,
        test,
        splits["train"].num_examples,
        splits["test"].num_examples,
        builder.info.features["label"].num_classes,
    )


def _image_shape(dataset, name):
    for image, _ in dataset.take(1):
        return tuple(int(d) for d in image.shape)
    raise DatasetError(f"dataset {name!r}: the training split is empty")


def _count(count, example):
    return count + 1


def _check_every_image(train, test, name, input_shape):
    """Decodes every image once (filling the cache training would fill anyway),
    so an unreadable file or an image of another size is reported here, by
    name, and not as a TensorFlow error in the middle of training."""
    try:
        for split in (train, test):
            split.reduce(0, _count)
    except tf.errors.InvalidArgumentError as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "shape" in text.lower():
            reason = (
                f"images of different sizes (the first is {'x'.join(map(str, input_shape))}; every image must match)"
            )
        else:
            reason = "a file that is not a readable image"
        raise DatasetError(f"dataset {name!r}: {reason}: {text[:200]}") from None


IMAGES = "images"


def augmentation_for(name):
    """The views `--augment` makes of dataset `name`'s images: a small shift for digits, crop and flip otherwise."""
    return SHIFT if name in ("mnist", "mnist_sample") else CROP_FLIP


def load(
    name,
    batch_size=128,
    augment=False,
    data_dir=None,
    validation_fraction=0.0,
    seed=0,
    shuffle_buffer=10_000,
    announce=False,
):
    """Returns `Splits` of batched `tf.data` pipelines for dataset `name`.

    Args:
        name: `mnist_sample` (embedded, offline), `mnist`, `cifar10`,
            `cifar100` (tensorflow-datasets), or `imagefolder:PATH` with
            `PATH/train/<class>/*` and `PATH/test/<class>/*` images.
        batch_size: global batch size.
        augment: random views of the training images: up to 2 pixels of
            shift for digits (`mnist`, `mnist_sample`), a 4-pixel-padded crop
            and a horizontal flip for the rest (`augmentation_for`).
        data_dir: where tensorflow-datasets keeps prepared data; for
            `mnist`, it may instead hold the four official IDX files
            (itself or its `downloads/manual/` folder), read offline after
            their checksums are checked.
        validation_fraction: the share of the training split held out,
            deterministically by `seed`, as `validation` (for tuning).
        seed: seed of the split, the shuffling and the augmentation.
        shuffle_buffer: size of the shuffle buffer of the training split.
        announce: print one line saying how many training and test images
            were loaded, and from where (a training run does).

    Raises:
        DatasetError: unknown name, missing download, unusable folder,
            missing or altered MNIST file.
    """
    source = ""
    if name == "mnist_sample":
        train, test, num_train, num_test, num_classes = _load_mnist_sample()
        source = " (the embedded sample of the MNIST test digits)"
    elif name == "mnist" and (folder := mnist_files.find(data_dir)):
        train, test, num_train, num_test, num_classes = _load_mnist_files(folder)
        source = f" (the official IDX files in {folder}, checksums checked)"
    elif name in TFDS_NAMES:
        train, test, num_train, num_test, num_classes = _load_tfds(name, data_dir)
    elif name.startswith("imagefolder:") and len(name) > len("imagefolder:"):
        train, test, num_train, num_test, num_classes = _load_image_folder(name[len("imagefolder:") :])
    else:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    if not 0.0 <= validation_fraction < 1.0:
        raise DatasetError(f"validation_fraction must be in [0, 1), got {validation_fraction}")

    input_shape = _image_shape(train, name)

    def to_float(image, label):
        return tf.cast(tf.ensure_shape(image, input_shape), tf.float32), tf.cast(label, tf.int64)

    train = train.map(to_float, num_parallel_calls=PARALLEL_CALLS).cache()
    test = test.map(to_float, num_parallel_calls=PARALLEL_CALLS).cache()
    if name.startswith("imagefolder:"):
        _check_every_image(train, test, name, input_shape)

    validation, num_validation = None, 0
    if validation_fraction > 0:
        num_validation = int(round(num_train * validation_fraction))
        held_out = np.random.default_rng(seed).permutation(num_train)[:num_validation]
        is_held_out = tf.constant(np.isin(np.arange(num_train), held_out))

        def held_out_part(index, example):
            return tf.gather(is_held_out, index)

        def kept_part(index, example):
            return tf.logical_not(tf.gather(is_held_out, index))

        def drop_index(index, example):
            return example

        indexed = train.enumerate()
        validation = indexed.filter(held_out_part).map(drop_index)
        train = indexed.filter(kept_part).map(drop_index)
        num_train -= num_validation
        validation = fixed_pipeline(validation.batch(batch_size))

    examples = train
    augmentation = augmentation_for(name)
    train = training_batches(
        examples, batch_size, augmentation if augment else None, seed, min(shuffle_buffer, num_train)
    )
    test = fixed_pipeline(test.batch(batch_size))
    base_name = name.split(":", 1)[0]
    info = DatasetInfo(
        name=name,
        input_shape=input_shape,
        num_classes=int(num_classes),
        num_train=int(num_train),
        num_test=int(num_test),
        num_validation=num_validation,
        normalization=NORMALIZATION.get(base_name),
    )
    held_out = f" ({num_validation} more held out for validation)" if num_validation else ""
    if announce:
        print(
            f"[kdkeras] dataset {name}: {num_train} training and {num_test} test images{held_out}{source}", flush=True
        )
    return Splits(
        train=train,
        test=test,
        info=info,
        validation=validation,
        train_examples=examples,
        batch_size=batch_size,
        augment=augment,
        augmentation=augmentation,
        seed=seed,
        shuffle_buffer=min(shuffle_buffer, num_train),
    )


def training_batches(examples, batch_size, augmentation, seed, shuffle_buffer):
    """Shuffles, augments by stateful draws of `augmentation` (None: not at all), and batches `(x, y)` examples.

    The shuffle order depends on `seed` alone. Training runs use
    `Splits.epoch_batches`; these batches feed what needs images of the
    training distribution without a fixed order (e.g. int8 calibration).
    """
    train = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if augmentation is not None:
        train = train.map(augmentation.random, num_parallel_calls=PARALLEL_CALLS)
    return fixed_pipeline(train.batch(batch_size))
