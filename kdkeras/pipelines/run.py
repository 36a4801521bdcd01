"""One run of `kdkeras.train`: trains models in turn and keeps their record.

Every method (`kdkeras.pipelines.methods`) is a short sequence of the calls
here: `train_plain` for a model trained on labels alone, `distill` for one
trained through a distiller. Each finished model is saved as
`<role>.keras` with a `<role>.json` record, and is loaded instead of
trained again when the same run is started once more.
"""

import csv
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kdkeras import io, models
from kdkeras.errors import TrainingError, UsageError
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


def logits_of(model, dataset):
    """The model's logits for every `(pixels, label)` of `dataset`, in order.

    A plain loop rather than `predict`, which, like `fit`, Keras cannot run
    under a multi-worker strategy.
    """
    return np.concatenate([np.asarray(model(images, training=False)) for images, _ in dataset])


def accuracy(model, dataset):
    """Top-1 accuracy of `model`'s logits on a `(pixels, label)` dataset."""
    correct = total = 0
    for images, labels in dataset:
        predictions = np.argmax(model(images, training=False), axis=-1)
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
        self.steps_per_epoch = math.ceil(splits.info.num_train / config.batch_size)

    def path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    def build(self, arch):
        """Builds architecture `arch` for the run's data, under the strategy."""
        info = self.splits.info
        with self.strategy.scope():
            return models.get(arch, info.input_shape, info.num_classes, info.normalization)

    def make_optimizer(self, epochs):
        """The run's optimizer, its learning rate following `--lr_schedule` over `epochs`."""
        config = self.config
        total_steps = max(1, epochs * self.steps_per_epoch)
        if config.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps)
        elif config.lr_schedule == "step":
            boundaries = sorted({max(1, int(total_steps * 0.5)), max(2, int(total_steps * 0.75))})
            values = [config.learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
            learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        else:
            learning_rate = config.learning_rate
        weight_decay = config.weight_decay or None
        if config.optimizer == "adam":
            return keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
        return keras.optimizers.SGD(learning_rate, momentum=config.momentum, nesterov=True, weight_decay=weight_decay)

    def load_finished(self, role):
        """The finished model `role` of this run, or `None` if not finished yet."""
        model_path, record_path = self.path(f"{role}.keras"), self.path(f"{role}.json")
        if not (os.path.exists(model_path) and os.path.exists(record_path)):
            return None
        with open(record_path) as f:
            record = json.load(f)
        with self.strategy.scope():
            model = keras.models.load_model(model_path, compile=False)
        self.records.append(record)
        self.models[role] = model
        print(f"[kdkeras] {role}: finished earlier, loaded {model_path} (test accuracy {record['test_accuracy']:.4f})")
        return model

    @property
    def multi_worker(self):
        """Whether the strategy spans several workers (Keras `fit` cannot drive it)."""
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def _callbacks(self, role, stop_at_accuracy):
        # Every worker keeps its own backup, so a restarted worker resumes;
        # only the chief writes logs and files of record.
        worker = "" if self.chief else f"worker{self.strategy.cluster_resolver.task_id}"
        callbacks = [
            StopOnNonFiniteLoss(role, self.output_dir),
            keras.callbacks.BackupAndRestore(self.path("backup", role, worker)),
        ]
        if self.chief:
            callbacks.append(keras.callbacks.TensorBoard(self.path("logs", role)))
            callbacks.append(keras.callbacks.CSVLogger(self.path(f"{role}_history.csv"), append=True))
        if stop_at_accuracy is not None:
            callbacks.append(StopAtAccuracy(stop_at_accuracy))
        return callbacks

    def _fit(self, role, trainable, train_data, epochs, stop_at_accuracy=None):
        print(f"[kdkeras] training {role} for up to {epochs} epochs")
        callbacks = self._callbacks(role, stop_at_accuracy)
        validation = self.splits.validation
        start = time.perf_counter()
        if self.multi_worker:
            history = fit_with_strategy_run(
                trainable,
                train_data,
                self.strategy,
                epochs=epochs,
                callbacks=callbacks,
                verbose=self.config.verbose,
                steps_per_epoch=self.steps_per_epoch,
            )
        else:
            history = trainable.fit(
                train_data,
                epochs=epochs,
                validation_data=validation,
                callbacks=callbacks,
                verbose=self.config.verbose,
            )
        seconds = time.perf_counter() - start
        # History numbers epochs from the start even when BackupAndRestore resumed mid-way.
        return (history.epoch[-1] + 1 if history.epoch else epochs), seconds

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
        record.update(extra or {})
        return record

    def finish(self, role, model, epochs_trained, seconds, extra=None):
        """Evaluates `model` on the test split, saves it and its record."""
        record = self._record(role, model, seconds, epochs_trained, extra)
        if self.chief:
            io.save_model_atomic(model, self.path(f"{role}.keras"))
            io.write_json_atomic(self.path(f"{role}.json"), record)
        self.records.append(record)
        self.models[role] = model
        print(f"[kdkeras] {role} ({record['arch']}): test accuracy {record['test_accuracy']:.4f}, {seconds:.1f} s")
        return model

    def train_plain(self, role, arch, epochs, stop_at_accuracy=None):
        """Trains `arch` on the labels alone (cross-entropy), or loads it if finished."""
        finished = self.load_finished(role)
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
        epochs_trained, seconds = self._fit(role, model, self.splits.training_batches_with(), epochs, stop_at_accuracy)
        return self.finish(role, model, epochs_trained, seconds, {"trained_by": "labels"})

    @property
    def caching(self):
        """Whether fixed models' logits are computed once (`--teacher_cache`).

        Only sound when a model's input does not change between epochs, so
        `auto` caches exactly when there is no augmentation.
        """
        return self.config.teacher_cache == "on" or (self.config.teacher_cache == "auto" and not self.config.augment)

    def _cached_training_batches(self, frozen):
        """Training batches carrying the logits of the `frozen` models, computed once."""
        examples = self.splits.train_examples.batch(self.config.batch_size)
        logits = {name: logits_of(model, examples) for name, model in frozen.items()}
        return self.splits.training_batches_with(logits)

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
                logits the distiller can take from the batch; with caching on
                they run once over the training split instead of every step.
        """
        finished = self.load_finished(role)
        if finished is not None:
            return finished
        student = self.build(arch)
        with self.strategy.scope():
            distiller = make_distiller(student)
            distiller.compile(
                optimizer=self.make_optimizer(epochs),
                metrics=["accuracy"],
                jit_compile=self.config.jit_compile,
                steps_per_execution=self.config.steps_per_execution,
            )
        extra = {"trained_by": type(distiller).__name__, "taught_by": list(teachers), "teacher_cache": False}
        train_data = self.splits.training_batches_with()
        if frozen and self.caching:
            start = time.perf_counter()
            train_data = self._cached_training_batches(frozen)
            extra.update(teacher_cache=True, cache_seconds=round(time.perf_counter() - start, 3))
        epochs_trained, seconds = self._fit(role, distiller, train_data, epochs)
        seconds += extra.get("cache_seconds", 0.0)
        return self.finish(role, student, epochs_trained, seconds, extra)

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
        input_shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
        if input_shape != tuple(info.input_shape):
            raise UsageError(f"{flag}={path}: the model takes inputs of shape {input_shape}, but --dataset={info.name} has {tuple(info.input_shape)}")
        num_classes = model.outputs[0].shape[-1]
        if num_classes != info.num_classes:
            raise UsageError(f"{flag}={path}: the model has {num_classes} outputs, but --dataset={info.name} has {info.num_classes} classes")
        self.records.append(self._record("teacher", model, 0.0, 0, {"checkpoint": os.path.abspath(path)}))
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
