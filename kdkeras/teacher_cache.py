"""An exact, on-disk cache of a frozen model's logits for the views training uses.

A distiller learning from a fixed model (teacher, TAKD assistant, previous
GSKD stage) reads its logits for exactly the pixels the student sees in that
step. With augmentation those pixels change every epoch, so the cache holds
one row per (view, example): `views x num_train x num_classes` float32 logits
in a `.npy` file, memory-mapped, with a JSON header beside it.

Design: a view is a pure function of (seed, epoch, example index)
(`Splits.augmentation.view_of`: CIFAR's crops and flips, or the small shifts
of digits), and the cache stores the `epochs` views a run of that seed will
use (design "b"), not all 162 crops and flips (CIFAR) of every image (design
"a"). Why, for the research study (ResNet26 teacher, 20
epochs, CIFAR-10/100, 3 seeds, ~10 runs; `tools/compare.py` trains one
teacher per seed):

- design a: 162 teacher passes over the training set per teacher, serving
  any seed; with a teacher per seed, 3 x 162 = 486 passes (162 even with one
  shared teacher checkpoint for all seeds);
- design b: 20 passes per (teacher, seed), shared by every method of that
  seed (BLKD, TAKD's first link, WSKD, GSKD's teacher term): 3 x 20 = 60;
- no cache: 20 passes per distilled model, ~5 per seed: 3 x 5 x 20 = 300.

So b costs 60 passes where a costs 486 (or 162), and a alone would cost more
than running the teacher every step. Size for b: CIFAR-10, 20 epochs:
20 x 50,000 x 10 x 4 bytes = 40 MB; CIFAR-100: 400 MB on disk, of which one
epoch (20 MB) is read into memory at a time: float32, so the logits are the
frozen model's own (no float16 or top-k approximation; the only difference
from a forward pass in the train step is float rounding of batched kernels).
Without augmentation there is one view (the image itself) and the cache has
one row per example, keyed without seed and epochs.

The key is what determines the table: a SHA-256 of the frozen model's
weights, of the training pixels and labels (in order), the augmentation (its
views and how they are drawn, `Augmentation.name`) and,
with augmentation, the seed. The header records the key, the shape and a
SHA-256 of the `.npy` file; a cache whose header, size, shape or checksum
does not match is refilled, with one line saying why. A cache with more
views (epochs) than a run needs serves it. A fill grows in a `.partial.npy`
file beside it, so one stopped half-way goes on from its next view.
"""

import hashlib
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kdkeras import io, models
from kdkeras.data.datasets import PARALLEL_CALLS, fixed_pipeline
from kdkeras.errors import TrainingError

FORMAT = 1
DTYPE = np.float32


def weights_digest(model):
    """SHA-256 over the model's weight arrays (shape, dtype and bytes, in order)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def data_digest(splits):
    """SHA-256 over the training pixels and labels in `train_examples` order (computed once per `splits`)."""
    if getattr(splits, "_data_digest", None) is None:
        digest = hashlib.sha256()
        for images, labels in splits.train_examples.batch(1024):
            digest.update(np.ascontiguousarray(images.numpy()).tobytes())
            digest.update(np.ascontiguousarray(labels.numpy()).tobytes())
        splits._data_digest = digest.hexdigest()
    return splits._data_digest


def cache_key(model, splits):
    """What determines the table's rows (not how many views it has)."""
    info = splits.info
    return {
        "format": FORMAT,
        "model_weights_sha256": weights_digest(model),
        "dataset": info.name,
        "num_train": int(info.num_train),
        "num_classes": int(info.num_classes),
        "data_sha256": data_digest(splits),
        "augmentation": splits.augmentation.name if splits.augment else "none",
        "seed": int(splits.seed) if splits.augment else None,
    }


class TeacherCache:
    """One frozen model's logits for `views` views of every training example.

    Attributes:
        table: `[views, num_train, num_classes]` float32, memory-mapped.
        filled: whether this process computed it (else it was reused).
        seconds: the fill's duration, over every process that worked on it (0 when reused).
        fill_seconds: what the fill cost whoever did it, from the cache's header when reused (None for a
            cache written before headers kept it): a run that reads a shared cache still needed it.
        path: the `.npy` file; `bytes` its size.
    """

    def __init__(self, path, key, table, filled, seconds, fill_seconds=None):
        self.path = path
        self.key = key
        self.table = table
        self.filled = filled
        self.seconds = seconds
        self.fill_seconds = seconds if filled else fill_seconds

    @property
    def name(self):
        return os.path.splitext(os.path.basename(self.path))[0]

    @property
    def views(self):
        return int(self.table.shape[0])

    @property
    def bytes(self):
        return os.path.getsize(self.path)

    def record(self, source):
        """The cache's entry in a model's record: `source` is the frozen model's role."""
        return {
            "source": source,
            "cache": self.name,
            "filled": self.filled,
            "seconds": round(self.seconds, 3),
            "fill_seconds": None if self.fill_seconds is None else round(self.fill_seconds, 3),
            "bytes": self.bytes,
            "views": self.views,
            "fill_images": int(self.table.shape[0] * self.table.shape[1]) if self.filled else 0,
        }


def _paths(directory, key):
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return os.path.join(directory, f"{name}.npy"), os.path.join(directory, f"{name}.json")


def _usable(npy_path, header_path, key, views, shape_tail):
    """`(table, header)` when the files on disk hold this cache, else `(None, reason)`."""
    if not os.path.exists(npy_path) and not os.path.exists(header_path):
        return None, None
    try:
        with open(header_path) as f:
            header = json.load(f)
    except (OSError, ValueError):
        return None, "its header is missing or unreadable"
    if header.get("key") != key:
        return None, "its key does not match"
    shape = tuple(header.get("shape", ()))
    if len(shape) != 3 or shape[1:] != shape_tail:
        return None, f"its shape {shape} does not fit {shape_tail}"
    if shape[0] < views:
        return None, f"it has {shape[0]} views, this run needs {views}"
    if not os.path.exists(npy_path) or os.path.getsize(npy_path) != header.get("bytes"):
        return None, "its table is missing or truncated"
    if io.file_sha256(npy_path) != header.get("sha256"):
        return None, "its table's checksum does not match"
    try:
        table = np.load(npy_path, mmap_mode="r")
    except (OSError, ValueError) as error:
        return None, f"its table is unreadable ({error})"
    if table.shape != shape or table.dtype != DTYPE:
        return None, f"its table is {table.shape} {table.dtype}, expected {shape} {np.dtype(DTYPE)}"
    return table, header


def _partial_paths(npy_path):
    stem = npy_path[: -len(".npy")]
    return f"{stem}.partial.npy", f"{stem}.partial.json"


def _fill_so_far(npy_path, key, shape):
    """`(views_done, seconds)` of an interrupted fill of this table that can go on, else `(0, 0.0)`."""
    partial, progress_path = _partial_paths(npy_path)
    try:
        with open(progress_path) as f:
            progress = json.load(f)
        table = np.load(partial, mmap_mode="r")
    except (OSError, ValueError):
        return 0, 0.0
    if progress.get("key") != key or tuple(progress.get("shape", ())) != shape or table.shape != shape:
        return 0, 0.0
    return int(progress.get("views_done", 0)), float(progress.get("seconds", 0.0))


def _fill(model, splits, views, npy_path, header_path, key, batch_size, verbose=1):
    """Runs `model` on every view of every example; returns `(table, seconds)`, the seconds kept in the header.

    The table grows in `<name>.partial.npy`, with the views done so far in `<name>.partial.json` (written after
    each view), so a fill stopped half-way goes on from its next view, its seconds so far counted; finished, it
    is renamed onto `npy_path` and the header written, so a reader sees a whole table or none.
    `verbose` as Keras's: 1 a progress bar over all batches, 2 one line per view, 0 silent.
    """
    info = splits.info
    shape = (views, info.num_train, info.num_classes)
    partial, progress_path = _partial_paths(npy_path)
    os.makedirs(os.path.dirname(npy_path) or ".", exist_ok=True)
    done, seconds_before = _fill_so_far(npy_path, key, shape)
    if done:
        print(f"[kdkeras] going on with the fill from view {done + 1}/{views} ({seconds_before:.1f} s before)")
    elif os.path.exists(progress_path):
        os.remove(progress_path)  # another fill's: the new table must not be taken for it
    # The model's logits for the view as the distiller computes them:
    # resized to its input, a softmax output as log-probabilities.
    forward = tf.function(lambda x: tf.cast(models.logits(model, x), tf.float32), reduce_retracing=True)
    seed, augmentation = splits.seed, splits.augmentation

    steps = -(-info.num_train // batch_size)
    progress = keras.utils.Progbar(views * steps, unit_name="batch") if verbose == 1 else None
    if progress is not None and done:
        progress.update(done * steps)
    start = time.perf_counter()
    try:
        table = np.lib.format.open_memmap(partial, mode="r+" if done else "w+", dtype=DTYPE, shape=shape)
        for view in range(done, views):

            def cut(index, example, view=view):
                images = example[0]
                if splits.augment:
                    images = augmentation.apply(images, augmentation.view_of(seed, view, index))
                return images, index

            batches = splits.train_examples.enumerate().map(cut, num_parallel_calls=PARALLEL_CALLS)
            for images, indices in fixed_pipeline(batches.batch(batch_size)):
                table[view, indices.numpy()] = forward(images).numpy()
                if progress is not None:
                    progress.add(1)
            table.flush()
            seconds = seconds_before + time.perf_counter() - start
            io.write_json_atomic(
                progress_path,
                {"key": key, "shape": list(shape), "views_done": view + 1, "seconds": round(seconds, 3)},
            )
            if verbose == 2:
                print(f"[kdkeras] cache view {view + 1}/{views} filled", flush=True)
        del table
        os.replace(partial, npy_path)
    except OSError as error:
        raise TrainingError(
            f"could not write the cache {partial}: {error.strerror or error}; run again to go on from its last "
            "whole view"
        ) from error
    header = {
        "key": key,
        "shape": list(shape),
        "dtype": np.dtype(DTYPE).name,
        "bytes": os.path.getsize(npy_path),
        "sha256": io.file_sha256(npy_path),
    }
    seconds = seconds_before + time.perf_counter() - start
    header["fill_seconds"] = round(seconds, 3)
    io.write_json_atomic(header_path, header)
    os.remove(progress_path)
    return np.load(npy_path, mmap_mode="r"), seconds


def open_or_fill(model, splits, epochs, directory, source="teacher", batch_size=256, verbose=1):
    """The cache of `model`'s logits for a run of `epochs` on `splits`: reused if valid, else filled.

    Args:
        model: the frozen `keras.Model`.
        splits: the run's `kdkeras.data.Splits` (data, augmentation, seed).
        epochs: the run's epochs: the views needed with augmentation.
        directory: where caches live; a study shares one.
        source: the model's role, for the lines printed.
        batch_size: batch of the fill's forward passes.
        verbose: the fill's progress, as Keras's `verbose` (1 a bar, 2 a line per view, 0 none).
    """
    views = int(epochs) if splits.augment else 1
    key = cache_key(model, splits)
    npy_path, header_path = _paths(directory, key)
    shape_tail = (int(splits.info.num_train), int(splits.info.num_classes))
    table, found = _usable(npy_path, header_path, key, views, shape_tail)
    if table is not None:
        print(f"[kdkeras] {source} logits: reusing the cache {npy_path} ({table.shape[0]} views)")
        return TeacherCache(npy_path, key, table, filled=False, seconds=0.0, fill_seconds=found.get("fill_seconds"))
    reason = found
    if reason:
        print(f"[kdkeras] {source} logits: not using the cache {npy_path}: {reason}; filling it again")
    print(f"[kdkeras] {source} logits: filling the cache {npy_path} ({views} views x {shape_tail[0]} images)")
    table, seconds = _fill(model, splits, views, npy_path, header_path, key, batch_size, verbose)
    print(
        f"[kdkeras] {source} logits: filled the cache {npy_path} ({views} views x {shape_tail[0]} images) in "
        f"{seconds:.1f} s"
    )
    return TeacherCache(npy_path, key, table, filled=True, seconds=seconds)
