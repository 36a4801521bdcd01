"""The record of each finished model (`<role>.json`, a row of `results.json["models"]` and of `models.csv`),
its per-epoch history, and the work it counts (`kdkeras.accounting` adds the counts up).

A record holds the model's size, cost and test accuracy, and the work of
training it: `images_trained` (epochs x training examples, plus the images
of any extra update a distiller makes, WSKD's step 2, as
`kdkeras.accounting` reads them from the history),
`frozen_forward_images` (per frozen model it learned from: images it ran
on, 0 when its logits were cached) and `cache_fills`.

The history has a row per epoch (`epoch`, 0-based, then the metrics Keras
logged, sorted): the training metrics, `train_seconds` (training seconds
so far, `Backup.training_seconds`: the record's `train_seconds` less any
teacher cache fill, `cache_seconds`, up to the epoch's end) and, with
`--test_every_epoch`, `test_accuracy` and `test_loss` (the model alone on
the test split, as its record's `test_accuracy` is measured).
"""

import csv
import os

import numpy as np

from kdkeras import accounting, io, models

__all__ = [
    "accuracy",
    "evaluate",
    "append_epoch",
    "model_record",
    "epoch_history",
    "images_trained",
    "frozen_forward_images",
    "cache_fills",
    "write_models_csv",
    "CSV_COLUMNS",
]

CSV_COLUMNS = ("role", "arch", "params", "flops", "test_accuracy", "train_seconds", "epochs")


def evaluate(model, dataset):
    """`(accuracy, loss)` of `model` on a `(pixels, label)` dataset: top-1 accuracy of its logits and their
    mean cross-entropy with the labels (in float64), in inference mode."""
    correct = total = 0
    loss = 0.0
    for images, labels in dataset:
        logits = np.asarray(models.logits(model, images))
        labels = labels.numpy()
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels))
        total += int(labels.shape[0])
        shifted = logits.astype("float64") - np.max(logits, axis=-1, keepdims=True)
        log_probabilities = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        loss -= float(np.sum(np.take_along_axis(log_probabilities, labels.reshape(-1, 1).astype("int64"), axis=-1)))
    return correct / max(total, 1), loss / max(total, 1)


def accuracy(model, dataset):
    """Top-1 accuracy of `model`'s logits on a `(pixels, label)` dataset."""
    return evaluate(model, dataset)[0]


def model_record(role, model, test, seconds, epochs, resumption=None, extra=None):
    """A model's record: its size, cost and accuracy on `test`, how this process began it, and `extra`."""
    record = {
        "role": role,
        "arch": model.name,
        "params": models.count_params(model),
        "flops": models.count_flops(model),
        "test_accuracy": accuracy(model, test),
        "train_seconds": round(seconds, 3),
        "epochs": epochs,
    }
    if resumption is not None:
        record["resumption"] = resumption
    record.update(extra or {})
    return record


def epoch_history(path):
    """The rows of a model's per-epoch log (`<role>_history.csv`) in epoch order; a resumed epoch counts once."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        by_epoch = {row["epoch"]: row for row in csv.DictReader(f)}
    return [by_epoch[epoch] for epoch in sorted(by_epoch, key=int)]


def append_epoch(path, epoch, logs):
    """Adds the row of `epoch` (0-based) with the metrics `logs` to the history at `path`, written atomically.

    Columns are `epoch`, then the metrics sorted, as Keras's `CSVLogger` orders them. A metric the file
    has no column for (a run resumed with `--test_every_epoch`, or by a version that logs more) gets one at
    the end, `NA` in the earlier rows, and a column this epoch did not log is `NA` in its row, so every
    value stays under its own header.
    """
    rows, columns = [], []
    if os.path.exists(path):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = [{k: v for k, v in row.items() if k is not None} for row in reader]  # no cell beyond the header
    if not columns:
        columns = ["epoch"]
    columns += sorted(k for k in logs if k not in columns)
    rows.append({"epoch": epoch, **logs})
    io.write_csv_atomic(path, columns, rows, restval="NA")


def images_trained(epochs, num_train, history):
    """Images a model was trained on: one pass over the `num_train` examples per epoch, plus the images of
    any extra update its `history` logs (`accounting.extra_update_images`: WSKD's `step2_images`)."""
    return epochs * num_train + accounting.extra_update_images(history)


def frozen_forward_images(networks, epochs, num_train, cached):
    """Images each frozen network ran forward while a model learned from it: none when its logits were cached."""
    return {name: 0 if cached else epochs * num_train for name in networks}


def cache_fills(caches, num_train):
    """The cache fills a model's training made: each cache's source model, key, and images (views x examples)."""
    return [{"model": c["source"], "key": c["cache"], "images": c["views"] * num_train} for c in caches]


def write_models_csv(path, records):
    """Writes `models.csv` at `path`: one row per record, in `CSV_COLUMNS`."""
    io.write_csv_atomic(path, CSV_COLUMNS, records, extrasaction="ignore")
