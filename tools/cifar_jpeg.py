"""The CIFAR-10 JPEG copy as arrays, for the benchmarks in tools/ (a tarball or its extracted folder)."""

import os
import tarfile

from kdkeras import errors

DEFAULT_DATA = "../shared/datasets/cifar10-jpeg.tar.gz"


def define_data_flags(num_images):
    """The benchmarks' data flags: `--data` (the CIFAR-10 JPEG copy), `--num_images` and `--batch_size`."""
    from absl import flags

    flags.DEFINE_string("data", DEFAULT_DATA, "CIFAR-10 JPEG tarball or image folder (train/<class>/*.jpg)")
    flags.DEFINE_integer("num_images", num_images, "training images per epoch")
    flags.DEFINE_integer("batch_size", 128, "batch size")


def check_data_flags():
    """Ends with one line naming `--num_images` unless it holds at least one `--batch_size` batch."""
    from absl import flags

    values = flags.FLAGS
    errors.check(
        values.num_images >= values.batch_size,
        f"--num_images={values.num_images}: expected at least one batch (--batch_size={values.batch_size})",
    )


def augmented_splits(x, y, batch_size, autotune=False):
    """`kdkeras.data.Splits` over in-memory images with crop + flip, seed 0: the batches a run trains on."""
    import tensorflow as tf

    from kdkeras.data.datasets import DatasetInfo, Splits

    return Splits(
        train=None,
        test=None,
        info=DatasetInfo("bench", x.shape[1:], 10, len(y), 0),
        train_examples=tf.data.Dataset.from_tensor_slices((x.astype("float32"), y)).cache(),
        batch_size=batch_size,
        augment=True,
        seed=0,
        shuffle_buffer=len(y),
        autotune=autotune,
    )


def read_images(path, limit):
    """`(uint8 images [N, 32, 32, 3], int64 labels)`: `limit` training images spread evenly over the classes.

    `path` is `cifar10-jpeg.tar.gz` or the folder it extracts to
    (`train/<class>/*.jpg`); labels number the classes in sorted order.
    """
    import numpy as np
    import tensorflow as tf

    if os.path.isdir(path):
        root = os.path.join(path, "train")
        errors.check(os.path.isdir(root), f"--data={path}: expected an image folder with train/<class>/*.jpg")
        entries = [
            (name, os.path.join(root, name, f))
            for name in sorted(os.listdir(root))
            for f in sorted(os.listdir(os.path.join(root, name)))
        ]

        def read(file):
            with open(file, "rb") as f:
                return f.read()

    elif os.path.isfile(path):
        archive = tarfile.open(path)
        members = {
            m.name: m for m in archive if m.isfile() and m.name.endswith(".jpg") and "train" in m.name.split("/")
        }
        entries = sorted((name.split("/")[-2], name) for name in members)

        def read(name):
            return archive.extractfile(members[name]).read()

    else:
        raise errors.UsageError(
            f"--data={path}: no such file or folder; expected the CIFAR-10 JPEG tarball or its folder"
        )
    errors.check(entries, f"--data={path}: found no train/<class>/*.jpg images")
    entries = entries[:: max(1, len(entries) // limit)][:limit]
    classes = {name: index for index, name in enumerate(sorted({name for name, _ in entries}))}
    images = [tf.io.decode_jpeg(read(source), channels=3).numpy() for _, source in entries]
    return np.stack(images), np.asarray([classes[name] for name, _ in entries], "int64")
