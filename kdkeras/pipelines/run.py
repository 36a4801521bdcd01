"""One run of `kdkeras.train`: trains models in turn and keeps their record.

Every method (`kdkeras.pipelines.methods`) is a short sequence of the calls
here: `train_plain` for a model trained on labels alone, `distill` for one
trained through a distiller. Each finished model is saved as
`<role>.keras` with a `<role>.json` record, and is loaded instead of
trained again when the same run is started once more.
"""

import csv
import hashlib
import json
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from kdkeras import io, models, optimizers, provenance, teacher_cache
from kdkeras.errors import TrainingError, UsageError
from kdkeras.pipelines.backup import Backup
from kdkeras.pipelines.strategy_fit import fit_with_strategy_run


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


class DivergenceError(TrainingError):
    """Training produced a NaN or infinite loss."""


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


class _EndEpoch(keras.callbacks.Callback):
    """Ends `fit` after one epoch: `Run._fit` gives each epoch its own batches, and
    `fit(epochs=N, initial_epoch=k)` still shows "Epoch k+1/N"."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def epoch_history(path):
    """The rows of a model's per-epoch log (`<role>_history.csv`) in epoch order; a resumed epoch counts once."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        by_epoch = {row["epoch"]: row for row in csv.DictReader(f)}
    return [by_epoch[epoch] for epoch in sorted(by_epoch, key=int)]


def accuracy(model, dataset):
    """Top-1 accuracy of `model`'s logits on a `(pixels, label)` dataset."""
    correct = total = 0
    for images, labels in dataset:
        predictions = np.argmax(models.logits(model, images), axis=-1)
        correct += int(np.sum(predictions == labels.numpy()))
        total += int(labels.shape[0])
    return correct / max(total, 1)


class Run:
    """Trains the models of one method and collects `results.json`'s `models`.

    Args:
        config: a validated `TrainConfig`.
        splits: the dataset's `Splits`.
        strategy: the `tf.distribute.Strategy` every model is built under.
        chief: whether this process writes files of record.
    """

    def __init__(self, config, splits, strategy, chief=True):
        self.config = config
        self.splits = splits
        self.strategy = strategy
        self.chief = chief
        self.output_dir = config.output_dir
        self.records = []
        self.models = {}
        self.keys = {}  # role -> model key (`model_key`), for the keys of the models that learn from it
        self.steps_per_epoch = math.ceil(splits.info.num_train / config.batch_size)
        self.resumption = {}  # role -> how this invocation began it: loaded, resumed or started

    def path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    def build(self, arch):
        """Builds architecture `arch` for the run's data, under the strategy.

        The seed is set again before every model, so a model's initial
        weights depend on `--seed` and its architecture alone, not on what
        the run built before it: the same model in two methods is the same.
        """
        info = self.splits.info
        keras.utils.set_random_seed(self.config.seed)
        with self.strategy.scope():
            return models.get(arch, info.input_shape, info.num_classes, info.normalization)

    def model_key(self, arch, epochs, training):
        """What determines a trained model, hashed: architecture, data, recipe, seed and `training`.

        `training` says how it learns (labels, or a distiller's settings and
        the keys of the models it learns from). Two runs that would train
        the same model compute the same key, whatever method they belong to.
        """
        config, info = self.config, self.splits.info
        determined_by = {
            "arch": arch,
            "data": [config.dataset, info.num_train, info.num_test, config.validation_fraction, config.augment],
            "recipe": {
                k: getattr(config, k)
                for k in (
                    "batch_size",
                    "optimizer",
                    "learning_rate",
                    "momentum",
                    "weight_decay",
                    "weight_decay_mode",
                    "lr_schedule",
                    "warmup_fraction",
                    "seed",
                    "mixed_precision",
                )
            },
            "epochs": epochs,
            "training": training,
        }
        return hashlib.sha256(json.dumps(determined_by, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def _from_store(self, role, key):
        """The model of `key` trained earlier by another run of `--model_store`, copied in as `role`; else None."""
        store = self.config.model_store
        if not store or not self.chief:
            return None
        model_path, record_path = os.path.join(store, f"{key}.keras"), os.path.join(store, f"{key}.json")
        if not (os.path.exists(model_path) and os.path.exists(record_path)):
            return None
        with open(record_path) as f:
            record = json.load(f)
        record.update(role=role, reused_from=os.path.abspath(model_path))
        io.replace_atomic(self.path(f"{role}.keras"), lambda temporary: shutil.copyfile(model_path, temporary))
        io.write_json_atomic(self.path(f"{role}.json"), record)
        print(f"[kdkeras] {role}: the same model was trained before, reusing {model_path}")
        return self.load_finished(role)

    def _to_store(self, role, key):
        store = self.config.model_store
        if not store or not self.chief:
            return
        os.makedirs(store, exist_ok=True)
        for suffix in (".keras", ".json"):
            source = self.path(f"{role}{suffix}")
            io.replace_atomic(
                os.path.join(store, f"{key}{suffix}"), lambda temporary: shutil.copyfile(source, temporary)
            )

    def make_optimizer(self, epochs):
        """The run's optimizer, its learning rate following `--lr_schedule` over `epochs`."""
        config = self.config
        return optimizers.make_optimizer(
            config.optimizer,
            config.learning_rate,
            epochs * self.steps_per_epoch,
            schedule=config.lr_schedule,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            weight_decay_mode=config.weight_decay_mode,
            warmup_fraction=config.warmup_fraction,
        )

    def load_finished(self, role):
        """The finished model `role` of this run, or `None` if not finished yet."""
        model_path, record_path = self.path(f"{role}.keras"), self.path(f"{role}.json")
        if not (os.path.exists(model_path) and os.path.exists(record_path)):
            return None
        with open(record_path) as f:
            record = json.load(f)
        with self.strategy.scope():
            model = keras.models.load_model(model_path, compile=False)
        record["resumption"] = {"state": "loaded", "model": model_path}
        self.records.append(record)
        self.models[role] = model
        self.keys[role] = record.get("model_key", role)
        shutil.rmtree(self.path("backup", role), ignore_errors=True)  # left by a kill after it was saved
        print(f"[kdkeras] {role}: finished earlier, loaded {model_path} (test accuracy {record['test_accuracy']:.4f})")
        return model

    @property
    def multi_worker(self):
        """Whether the strategy spans several workers (Keras `fit` cannot drive it)."""
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def _callbacks(self, role, stop_at_accuracy, backup):
        # Only the chief writes logs and files of record; every worker keeps its own backup.
        # The backup comes after the callbacks that stop training, so it records their stop.
        callbacks = [StopOnNonFiniteLoss(role, self.output_dir)]
        if stop_at_accuracy is not None:
            callbacks.append(StopAtAccuracy(stop_at_accuracy))
        callbacks.append(backup)
        if self.chief:
            callbacks.append(keras.callbacks.TensorBoard(self.path("logs", role)))
            callbacks.append(keras.callbacks.CSVLogger(self.path(f"{role}_history.csv"), append=True))
        return callbacks

    def _backup(self, role):
        """The model's `Backup`: `--backup_every`, except per epoch for a time under multi-worker.

        Workers decide a time-based backup each by its own clock, so they
        could resume from different batches; a batch count is the same on all.
        """
        worker = "" if self.chief else f"worker{self.strategy.cluster_resolver.task_id}"
        every = self.config.backup_every
        backup = Backup(self.path("backup", role, worker), every, self.steps_per_epoch)
        if self.multi_worker and backup.kind == "seconds":
            print(
                f"[kdkeras] --backup_every={every}: multi-worker runs back up by batches or epochs; backing up "
                "every epoch"
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

    def _fit(self, role, trainable, epoch_batches, epochs, stop_at_accuracy=None):
        """Trains `trainable` epoch by epoch on `epoch_batches(epoch, skip_batches=...)`; returns `(epochs, seconds)`.

        The seconds include those earlier processes spent up to the backup a
        resumed run goes on from.

        One `fit` per epoch, each on that epoch's own batches, so a run
        resumed from a mid-epoch backup trains on the batches an
        uninterrupted run would (`Splits.epoch_batches`).
        """
        backup = self._backup(role)
        first, skip, stopped = self._resume_point(role, backup, epochs)
        print(f"[kdkeras] training {role} for up to {epochs} epochs")
        callbacks = self._callbacks(role, stop_at_accuracy, backup)
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

    def _fit_one(self, trainable, batches, epoch, epochs, callbacks, steps):
        """One epoch (`epoch`, 0-based) of `fit`, or of the multi-worker loop Keras `fit` cannot run."""
        if self.multi_worker:
            fit_with_strategy_run(
                trainable,
                batches,
                self.strategy,
                epochs=epochs,
                initial_epoch=epoch,
                callbacks=callbacks,
                verbose=self.config.verbose,
                steps_per_epoch=steps,
            )
        else:
            trainable.fit(
                batches,
                epochs=epochs,
                initial_epoch=epoch,
                validation_data=self.splits.validation,
                shuffle=False,
                callbacks=callbacks,
                verbose=self.config.verbose,
            )

    def _record(self, role, model, seconds, epochs, extra=None):
        """A model's line in `results.json`: its size, cost and test accuracy."""
        record = {
            "role": role,
            "arch": model.name,
            "params": models.count_params(model),
            "flops": models.count_flops(model),
            "test_accuracy": accuracy(model, self.splits.test),
            "train_seconds": round(seconds, 3),
            "epochs": epochs,
        }
        if role in self.resumption:
            record["resumption"] = self.resumption[role]
        record.update(extra or {})
        return record

    def extra_update_examples(self, role):
        """Examples of the updates a distiller makes beyond one per batch (WSKD's step 2), over all epochs.

        A distiller reports them in its per-epoch log as the metric `step2_examples`.
        """
        rows = epoch_history(self.path(f"{role}_history.csv"))
        return int(sum(float(row["step2_examples"]) for row in rows if row.get("step2_examples")))

    def finish(self, role, model, epochs_trained, seconds, extra=None, key=None):
        """Evaluates `model` on the test split, saves it and its record (and in `--model_store`)."""
        extra = dict(extra or {})
        num_train = self.splits.info.num_train
        extra["images_trained"] = epochs_trained * num_train + self.extra_update_examples(role)
        extra["model_key"] = key or role
        before = self.resumption.get(role, {}).get("kdkeras_commit_before")
        extra["kdkeras_commit"] = provenance.with_this_commit(before)
        record = self._record(role, model, seconds, epochs_trained, extra)
        if self.chief:
            io.save_model_atomic(model, self.path(f"{role}.keras"))
            io.write_json_atomic(self.path(f"{role}.json"), record)
        self.records.append(record)
        self.models[role] = model
        self.keys[role] = record["model_key"]
        if key is not None:
            self._to_store(role, key)
        print(f"[kdkeras] {role} ({record['arch']}): test accuracy {record['test_accuracy']:.4f}, {seconds:.1f} s")
        return model

    def train_plain(self, role, arch, epochs, stop_at_accuracy=None):
        """Trains `arch` on the labels alone (cross-entropy), or loads it if finished."""
        key = self.model_key(arch, epochs, {"trained_by": "labels", "stop_at_accuracy": stop_at_accuracy})
        finished = self.load_finished(role) or self._from_store(role, key)
        if finished is not None:
            return finished
        model = self.build(arch)
        with self.strategy.scope():
            model.compile(
                optimizer=self.make_optimizer(epochs),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
                jit_compile=self.config.jit_compile,
                steps_per_execution=self.config.steps_per_execution,
            )
        epochs_trained, seconds = self._fit(role, model, self.splits.epoch_batches, epochs, stop_at_accuracy)
        return self.finish(role, model, epochs_trained, seconds, {"trained_by": "labels"}, key=key)

    @property
    def caching(self):
        """Whether fixed models' logits come from a cache (`--teacher_cache`).

        The cache is exact with and without augmentation (a view is a pure
        function of seed, epoch and example), so `auto` is `on`.
        """
        return self.config.teacher_cache in ("on", "auto")

    @property
    def cache_dir(self):
        return self.config.teacher_cache_dir or self.path("cache")

    def _cached_epoch_batches(self, frozen, epochs, sources):
        """Per-epoch training batches carrying the logits of the `frozen` models from their caches.

        Returns `(epoch_batches, records)`: a function as `Splits.epoch_batches`,
        and one record entry per cache.
        """
        caches, records = {}, []
        for (name, model), source in zip(sorted(frozen.items()), sources):
            cache = teacher_cache.open_or_fill(
                model, self.splits, epochs, self.cache_dir, source=source, verbose=self.config.verbose
            )
            caches[name] = cache.table
            records.append(cache.record(source))

        def epoch_batches(epoch, skip_batches=0):
            return self.splits.epoch_batches(epoch, caches, skip_batches)

        return epoch_batches, records

    def distill(self, role, arch, make_distiller, epochs, teachers=(), frozen=None):
        """Trains `arch` through `make_distiller(student)`, or loads it if finished.

        Args:
            role: the model's name in this run (`student`, `assistant1`, ...).
            arch: the student's architecture.
            make_distiller: builds the distiller (a `keras.Model`) around the
                new student; it is called under the strategy's scope.
            epochs: training epochs.
            teachers: roles of the models it learns from, for the record.
            frozen: `{"teacher_logits": model, ...}`: the fixed models whose
                logits the distiller can take from the batch, in the order
                of `teachers`; with caching on they come from
                `kdkeras.teacher_cache` (filled once per model, data, seed)
                instead of a forward pass every step.
        """
        finished = self.load_finished(role)
        if finished is not None:
            return finished
        student = self.build(arch)
        with self.strategy.scope():
            distiller = make_distiller(student)
        settings = {
            k: v
            for k, v in distiller.get_config().items()
            if not isinstance(v, dict) and k not in ("name", "trainable")
        }
        key = self.model_key(
            arch,
            epochs,
            {
                "trained_by": type(distiller).__name__,
                "settings": settings,
                "taught_by": [self.keys.get(t, t) for t in teachers],
            },
        )
        reused = self._from_store(role, key)
        if reused is not None:
            return reused
        with self.strategy.scope():
            distiller.compile(
                optimizer=self.make_optimizer(epochs),
                metrics=["accuracy"],
                jit_compile=self.config.jit_compile,
                steps_per_execution=self.config.steps_per_execution,
            )
        extra = {"trained_by": type(distiller).__name__, "taught_by": list(teachers), "teacher_cache": False}
        train_data = self.splits.epoch_batches
        if frozen and self.caching:
            role_of = dict(zip(frozen, teachers))  # `frozen` lists its models in the order of `teachers`
            train_data, caches = self._cached_epoch_batches(frozen, epochs, [role_of[n] for n in sorted(frozen)])
            extra.update(
                teacher_cache=True,
                caches=caches,
                cache_seconds=round(sum(c["seconds"] for c in caches), 3),
                cache_bytes=sum(c["bytes"] for c in caches),
            )
        epochs_trained, seconds = self._fit(role, distiller, train_data, epochs)
        seconds += extra.get("cache_seconds", 0.0)
        num_train = self.splits.info.num_train
        cached = bool(extra["teacher_cache"])
        networks = [t for t in teachers if t in self.keys]
        extra["frozen_forward_images"] = {t: 0 if cached else epochs_trained * num_train for t in networks}
        if cached:
            extra["cache_fills"] = [
                {"model": c["source"], "key": c["cache"], "images": c["views"] * num_train} for c in extra["caches"]
            ]
        return self.finish(role, student, epochs_trained, seconds, extra, key=key)

    def teacher(self):
        """The run's teacher: `--teacher_checkpoint`, else trained (or reused)."""
        config = self.config
        if config.teacher_checkpoint:
            return self.load_checkpoint(config.teacher_checkpoint, "--teacher_checkpoint")
        return self.train_plain("teacher", config.teacher, config.teacher_epochs)

    def load_checkpoint(self, path, flag):
        """Loads a `.keras` model given by `flag` and checks it fits the data."""
        if not os.path.isfile(path):
            raise UsageError(f"{flag}={path}: no such file; expected a .keras model")
        try:
            with self.strategy.scope():
                model = keras.models.load_model(path, compile=False)
        except Exception as error:
            raise UsageError(f"{flag}={path}: not a readable .keras model ({type(error).__name__})") from None
        info = self.splits.info
        input_shape = models.input_shape_of(model)
        if input_shape is None or input_shape[-1] not in (None, info.input_shape[-1]):
            raise UsageError(
                f"{flag}={path}: the model takes inputs of shape {input_shape}, but --dataset={info.name} has "
                f"{tuple(info.input_shape)}; the height and width may differ (images are resized), the channels not"
            )
        num_classes = model.outputs[0].shape[-1]
        if num_classes != info.num_classes:
            raise UsageError(
                f"{flag}={path}: the model has {num_classes} outputs, but --dataset={info.name} has "
                f"{info.num_classes} classes"
            )
        with open(path, "rb") as f:
            key = hashlib.sha256(f.read()).hexdigest()[:32]
        self.records.append(
            self._record("teacher", model, 0.0, 0, {"checkpoint": os.path.abspath(path), "model_key": key})
        )
        self.models["teacher"] = model
        self.keys["teacher"] = key
        return model

    def write_models_csv(self):
        """Writes `models.csv`: one row per trained model."""
        if not self.chief or not self.records:
            return
        keys = ["role", "arch", "params", "flops", "test_accuracy", "train_seconds", "epochs"]

        def write(temporary):
            with open(temporary, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self.records)

        io.replace_atomic(self.path("models.csv"), write)
