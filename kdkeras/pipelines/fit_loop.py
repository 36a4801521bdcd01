"""The fit loop: a model trained epoch by epoch, backed up as it goes, and resumed from its backup.

One `fit` per epoch, each on that epoch's own batches (`Splits.epoch_batches`),
so a run resumed from a mid-epoch backup (`kdkeras.pipelines.backup`) trains
on the batches an uninterrupted run would. Under a multi-worker strategy,
which Keras `fit` cannot drive, each epoch runs through
`kdkeras.pipelines.strategy_fit` instead.

Each epoch's row of the history (`<role>_history.csv`, `records.append_epoch`)
holds the training seconds so far (`train_seconds`) and, given a test split
(`--test_every_epoch`), the accuracy and loss on it of the model being
trained (`test_accuracy`, `test_loss`). The test split is evaluated between
epochs in inference mode, off the training clock: it changes no weight, no
random state and no batch trained.
"""

import math
import time

import keras

from kdkeras.backup_interval import DEFAULT_INTERVAL
from kdkeras.errors import DivergenceError
from kdkeras.pipelines import records
from kdkeras.pipelines.backup import Backup
from kdkeras.pipelines.strategy_fit import fit_with_strategy_run

__all__ = ["EpochFigures", "FitLoop", "History", "StopAtAccuracy", "StopOnNonFiniteLoss"]


class StopAtAccuracy(keras.callbacks.Callback):
    """Stops training after the first epoch whose training accuracy reaches `threshold`."""

    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("accuracy", 0.0) >= self.threshold:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first NaN or infinite loss and names model, epoch and causes."""

    def __init__(self, role, output_dir):
        super().__init__()
        self.role = role
        self.output_dir = output_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise DivergenceError(
                f"the {self.role} diverged: loss {loss} at epoch {self.epoch}, batch {batch + 1}; "
                "likely causes: a learning rate too high for this batch size (try --learning_rate lower), "
                "a temperature near 0, or corrupt input data. Finished models and the backup of the last "
                f"completed epoch are kept in {self.output_dir}."
            )


class EpochFigures(keras.callbacks.Callback):
    """Adds to each epoch's logs `train_seconds`, the backup's training seconds so far, and, given `test`,
    `test_accuracy` and `test_loss` of `evaluated` on it (`records.evaluate`, as the model's record measures
    its test accuracy), evaluated in `backup.not_training()` so that its time counts as no training."""

    def __init__(self, backup, evaluated=None, test=None):
        super().__init__()
        self.backup = backup
        self.evaluated = evaluated
        self.test = test

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["train_seconds"] = round(self.backup.training_seconds(), 3)
        if self.test is not None:
            with self.backup.not_training():
                logs["test_accuracy"], logs["test_loss"] = records.evaluate(self.evaluated or self.model, self.test)


class History(keras.callbacks.Callback):
    """Writes each epoch's logs as a row of the history at `path` (`records.append_epoch`: atomically, and
    with a column for every metric, however an earlier process logged)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        records.append_epoch(self.path, epoch, dict(logs or {}))


class _EndEpoch(keras.callbacks.Callback):
    """Ends `fit` after one epoch: the loop gives each epoch its own batches, and
    `fit(epochs=N, initial_epoch=k)` still shows "Epoch k+1/N"."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


class FitLoop:
    """Trains a run's models one by one, each epoch by epoch, backed up and resumed from its own backup.

    Args:
        workspace: the run's `Workspace` (directory, strategy, chief).
        steps_per_epoch: batches of one epoch.
        backup_every: how often a model in training is backed up
            (`--backup_every`, see `kdkeras.backup_interval.parse_interval`).
        verbose: Keras verbosity.
        validation: the dataset `fit` reports validation metrics on, or None.
        test: the dataset evaluated after every epoch for the history's `test_accuracy` and `test_loss`
            (`--test_every_epoch`), or None.

    Example:

    ```python
    loop = FitLoop(workspace, steps_per_epoch=391, backup_every=DEFAULT_INTERVAL)
    epochs, seconds = loop.fit("teacher", compiled_model, splits.epoch_batches, epochs=10)
    loop.resumption["teacher"]  # {"state": "started"}, or where it resumed
    ```

    Reference:
        Keras, "Writing your own callbacks": https://keras.io/guides/writing_your_own_callbacks/
    """

    def __init__(
        self, workspace, steps_per_epoch, backup_every=DEFAULT_INTERVAL, verbose=1, validation=None, test=None
    ):
        self.workspace = workspace
        self.steps_per_epoch = steps_per_epoch
        self.backup_every = backup_every
        self.verbose = verbose
        self.validation = validation
        self.test = test
        self.resumption = {}  # role -> how this process began it: resumed or started

    def fit(self, role, trainable, epoch_batches, epochs, stop_at_accuracy=None, evaluated=None):
        """Trains `trainable` epoch by epoch on `epoch_batches(epoch, skip_batches=...)`; returns `(epochs, seconds)`.

        The seconds include those earlier processes spent up to the backup a
        resumed run goes on from, and leave out the test split's evaluation
        after each epoch. `evaluated` is the model the test split evaluates
        (a distiller's student; default `trainable`).
        """
        backup = self._backup(role)
        first, skip, stopped = self._resume_point(role, backup, epochs)
        print(f"[kdkeras] training {role} for up to {epochs} epochs")
        callbacks = self._callbacks(role, stop_at_accuracy, backup, evaluated)
        backup.clock_start = time.perf_counter()
        if stopped or first >= epochs:
            # The backup holds the finished training: restore it, train no further.
            self._fit_one(trainable, epoch_batches(0).take(1), first, first, callbacks, 1)
            return first, backup.training_seconds()
        callbacks.append(_EndEpoch())
        for epoch in range(first, epochs):
            at = skip if epoch == first else 0
            backup.offset = at
            self._fit_one(
                trainable, epoch_batches(epoch, skip_batches=at), epoch, epochs, callbacks, self.steps_per_epoch - at
            )
            if any(getattr(c, "stopped_epoch", None) for c in callbacks):
                return epoch + 1, backup.training_seconds()
        return epochs, backup.training_seconds()

    def _callbacks(self, role, stop_at_accuracy, backup, evaluated):
        # Only the chief writes logs and files of record, and evaluates the test split; every worker keeps
        # its own backup. The backup comes after the callbacks that stop training, so it records their stop,
        # and after the history, so a kill between the two trains the epoch again (its row written twice,
        # `records.epoch_history` keeps the last) rather than leaving it out of the history.
        workspace = self.workspace
        callbacks = [StopOnNonFiniteLoss(role, workspace.output_dir)]
        if stop_at_accuracy is not None:
            callbacks.append(StopAtAccuracy(stop_at_accuracy))
        callbacks.append(EpochFigures(backup, evaluated, self.test if workspace.chief else None))
        if workspace.chief:
            callbacks.append(keras.callbacks.TensorBoard(workspace.path("logs", role)))
            callbacks.append(History(workspace.path(f"{role}_history.csv")))
        callbacks.append(backup)
        return callbacks

    def _backup(self, role):
        """The model's `Backup`: `--backup_every`, except per epoch for a time under multi-worker.

        Workers decide a time-based backup each by its own clock, so they
        could resume from different batches; a batch count is the same on all.
        """
        workspace = self.workspace
        backup = Backup(workspace.path("backup", role, workspace.worker), self.backup_every, self.steps_per_epoch)
        if workspace.multi_worker and backup.kind == "seconds":
            print(
                f"[kdkeras] --backup_every={self.backup_every}: multi-worker runs back up by batches or epochs; "
                "backing up every epoch"
            )
            backup = Backup(backup.directory, "epoch", self.steps_per_epoch)
        return backup

    def _resume_point(self, role, backup, epochs):
        """Where training of `role` begins, `(epoch, batch, stopped)`, said in words and kept for the record."""
        state = backup.latest()
        if state is None:
            self.resumption[role] = {"state": "started"}
            print(f"[kdkeras] {role}: started (no backup in {backup.directory})")
            return 0, 0, False
        epoch, batch = state["epoch"], state["batch"]
        # Backups written before they kept the seconds count from zero: the record says so.
        backup.seconds_before = float(state.get("train_seconds", 0.0))
        # Backups written before they kept the commits name none: the record says "not recorded".
        commits_before = state.get("kdkeras_commit", "not recorded")
        backup.commits_before = commits_before
        self.resumption[role] = {
            "state": "resumed",
            "epoch": epoch + 1,
            "batch": batch,
            "backup": state["weights"],
            "seconds_before": state.get("train_seconds"),
            "kdkeras_commit_before": commits_before,
        }
        where = (
            f"after batch {batch}/{self.steps_per_epoch} of epoch {epoch + 1}/{epochs}"
            if batch
            else f"at epoch {epoch + 1}/{epochs}"
        )
        if epoch >= epochs or state.get("stopped"):
            where = f"after its last epoch ({epoch}/{epochs})"
        print(f"[kdkeras] {role}: resumed {where} from the backup {state['weights']}")
        backup.restore_on_train_begin(state)
        return epoch, batch, bool(state.get("stopped"))

    def _fit_one(self, trainable, batches, epoch, epochs, callbacks, steps):
        """One epoch (`epoch`, 0-based) of `fit`, or of the multi-worker loop Keras `fit` cannot run."""
        workspace = self.workspace
        if workspace.multi_worker:
            fit_with_strategy_run(
                trainable,
                batches,
                workspace.strategy,
                epochs=epochs,
                initial_epoch=epoch,
                callbacks=callbacks,
                verbose=self.verbose,
                steps_per_epoch=steps,
            )
        else:
            trainable.fit(
                batches,
                epochs=epochs,
                initial_epoch=epoch,
                validation_data=self.validation,
                shuffle=False,
                callbacks=callbacks,
                verbose=self.verbose,
            )
