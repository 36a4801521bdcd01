"""Backups of a model in training every few minutes or batches, and resuming from them.

Keras 3.15's `BackupAndRestore(save_freq=N)` writes a mid-epoch backup but
resumes from it at the start of that epoch (the batch it records is never
read), so the batches already trained are trained twice; and after a resume
its mid-epoch backups record epoch 0 until the first epoch ends, so a second
kill restarts from the beginning. `Backup` records epoch and batch itself,
and the run (`FitLoop.fit`) resumes at that batch of an epoch whose order is a
function of the seed and the epoch (`Splits.epoch_batches`), so a
resumed run trains on exactly the batches an uninterrupted one would.
"""

import contextlib
import json
import os
import time
import warnings

import keras

from kdkeras import io, provenance
from kdkeras.backup_interval import DEFAULT_INTERVAL, parse_interval
from kdkeras.models.fused_batch_norm import FusedBatchNormalization, batch_norm_named_as

__all__ = ["Backup", "parse_interval", "load_weights_any_batch_norm", "DEFAULT_INTERVAL"]

_STATE = "latest.json"


def load_weights_any_batch_norm(model, path):
    """`model.load_weights(path)` for a file whose batch-norm layers are Keras's or kdkeras's fused ones.

    Tried as the model is, then with every batch-norm layer named as Keras's,
    then as fused (`batch_norm_named_as`); the first error is raised if none
    fits. Keras warns of each layer it could not load before it raises; only
    the warnings of the load that fits are shown.
    """
    first_error = None
    for layer_class in (None, keras.layers.BatchNormalization, FusedBatchNormalization):
        naming = batch_norm_named_as(model, layer_class) if layer_class else contextlib.nullcontext()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with naming:
                    model.load_weights(path)
            except ValueError as error:
                first_error = first_error or error
                continue
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return
    raise first_error


class Backup(keras.callbacks.Callback):
    """Saves weights and optimizer state with the epoch and batch reached, in `directory`.

    A backup is taken after every epoch and, within an epoch, once
    `interval` (`parse_interval`) has passed since the last one. Each is a
    `.weights.h5` file named by its epoch and batch and a `latest.json`
    naming it, both replaced atomically, so a kill at any moment leaves the
    previous complete backup. `offset` is the batch the current epoch
    started at (a resumed one), so the batch recorded counts from the
    epoch's start.

    `latest.json` also keeps the training seconds spent so far, by this
    process (from `clock_start`) and the earlier ones it resumed
    (`seconds_before`), so a run resumed across sessions reports the time
    every process spent up to its last backup, not only the last process's
    (what a killed process trained after its last backup is lost, and not
    counted). It keeps the commits that trained the model so far in the same
    way (`commits_before`), so a model one commit started and another finished
    names both. Time spent inside `not_training()` (the test split evaluated
    after each epoch, `--test_every_epoch`) is left out of these seconds.
    """

    def __init__(self, directory, interval=DEFAULT_INTERVAL, steps_per_epoch=None):
        super().__init__()
        self.directory = directory
        self.kind, self.amount = parse_interval(interval)
        self.steps_per_epoch = steps_per_epoch
        self.offset = 0
        self._epoch = 0
        self._last_save = time.monotonic()
        self._restore = None
        self.seconds_before = 0.0
        self.commits_before = None
        self.clock_start = None
        self.seconds_left_out = 0.0  # this process's time in `not_training()`

    def training_seconds(self):
        """Seconds of training so far: the earlier processes' and this one's since `clock_start`, less the
        time spent in `not_training()`."""
        if self.clock_start is None:
            return self.seconds_before
        return self.seconds_before + time.perf_counter() - self.clock_start - self.seconds_left_out

    @contextlib.contextmanager
    def not_training(self):
        """A block whose time `training_seconds` leaves out (an evaluation between epochs)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds_left_out += time.perf_counter() - start

    def training_commits(self):
        """The commits that trained the model so far: the earlier processes' and this one's, one string."""
        return provenance.with_this_commit(self.commits_before)

    def latest(self):
        """The last backup as `{"epoch", "batch", "stopped", "weights"}` (epoch 0-based: the epoch
        to go on with; batch: those of it done), or None when there is none."""
        path = os.path.join(self.directory, _STATE)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            state = json.load(f)
        state["weights"] = os.path.join(self.directory, state["weights"])
        return state if os.path.exists(state["weights"]) else None

    def restore_on_train_begin(self, state):
        """Loads `state`'s weights when training begins (the model and optimizer are built then)."""
        self._restore = state

    def on_train_begin(self, logs=None):
        self._last_save = time.monotonic()
        if self._restore is None:
            return
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        load_weights_any_batch_norm(self.model, self._restore["weights"])
        self._restore = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        done = self.offset + batch + 1
        if self.steps_per_epoch and done >= self.steps_per_epoch:
            return  # the epoch's own backup follows at once
        if self.kind == "batches":
            due = done % self.amount == 0
        elif self.kind == "seconds":
            due = time.monotonic() - self._last_save >= self.amount
        else:
            due = False
        if due:
            self.save(self._epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self.offset = 0
        self.save(epoch + 1, 0, stopped=bool(self.model.stop_training))

    def save(self, epoch, batch, stopped=False):
        """Writes a backup from which training goes on at `batch` of (0-based) `epoch`."""
        os.makedirs(self.directory, exist_ok=True)
        name = f"epoch{epoch}-batch{batch}.weights.h5"
        io.replace_atomic(os.path.join(self.directory, name), self.model.save_weights)
        previous = self.latest()
        io.write_json_atomic(
            os.path.join(self.directory, _STATE),
            {
                "epoch": epoch,
                "batch": batch,
                "stopped": stopped,
                "weights": name,
                "saved": time.time(),
                "train_seconds": round(self.training_seconds(), 3),
                "kdkeras_commit": self.training_commits(),
            },
        )
        if previous and os.path.basename(previous["weights"]) != name:
            os.remove(previous["weights"])
        self._last_save = time.monotonic()
