"""One run of `kdkeras.train`: trains models in turn and keeps their record.

Every method is a short sequence of the calls here: `train_plain` for a
model trained on labels alone, `distill` for one trained through a
distiller. Each finished model is saved as `<role>.keras` with a
`<role>.json` record, and is loaded instead of trained again when the same
run is started once more.

`Run` joins the parts, each with one job: `Workspace` (the run's paths, and
models built under its strategy), `FitLoop` (epoch-by-epoch training,
backups and resumption), `ModelStore` and `model_key` (what identifies a
model, and models other runs trained) and `records` (each model's record,
history and counts of work).
"""

import json
import math
import os
import shutil

import keras

from kdkeras import io, optimizers, provenance, teacher_cache
from kdkeras.pipelines import records
from kdkeras.pipelines.fit_loop import FitLoop
from kdkeras.pipelines.model_store import ModelStore, distiller_settings, model_key
from kdkeras.pipelines.workspace import Workspace, checkpoint_key

__all__ = ["Run"]


class Run:
    """Trains the models of one method and collects `results.json`'s `models`.

    Args:
        config: a validated `TrainConfig`.
        splits: the dataset's `Splits`.
        strategy: the `tf.distribute.Strategy` every model is built under.
        chief: whether this process writes files of record.
        teacher: a fixed teacher the caller shares with several runs (a
            search's trials share one), or None. When given, `teacher()` and
            the role `teacher` of `train_plain` return it: it is neither
            trained nor recorded here.

    Example:

    ```python
    run = Run(config, splits, tf.distribute.get_strategy())
    teacher = run.teacher()
    run.distill("student", "resnet8", lambda s: Distiller(s, teacher), 10, ["teacher"], {TEACHER_LOGITS: teacher})
    run.write_models_csv()
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network" (2015): https://arxiv.org/abs/1503.02531
    """

    def __init__(self, config, splits, strategy, chief=True, teacher=None):
        self.config = config
        self.splits = splits
        self.strategy = strategy
        self.chief = chief
        self.shared_teacher = teacher
        self.output_dir = config.output_dir
        self.records = []
        self.models = {}
        self.keys = {}  # role -> model key (`model_key`), for the keys of the models that learn from it
        self.steps_per_epoch = math.ceil(splits.info.num_train / config.batch_size)
        self.workspace = Workspace(config.output_dir, strategy, chief)
        self.fit_loop = FitLoop(
            self.workspace,
            self.steps_per_epoch,
            config.backup_every,
            config.verbose,
            splits.validation,
            test=splits.test if config.test_every_epoch else None,
        )
        # Only the chief writes files, the store's included.
        self.store = ModelStore(config.model_store if chief else None)

    def path(self, *parts):
        return self.workspace.path(*parts)

    @property
    def resumption(self):
        """Role -> how this process began training it: resumed (from where) or started (`FitLoop`)."""
        return self.fit_loop.resumption

    def build(self, arch):
        """Builds architecture `arch` for the run's data, under the strategy, from `--seed` (`Workspace.build`)."""
        return self.workspace.build(arch, self.splits.info, self.config.seed)

    def model_key(self, arch, epochs, training):
        """The key of model `arch` trained for `epochs` as `training` says, in this run (`model_store.model_key`)."""
        return model_key(self.config, self.splits.info, arch, epochs, training)

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

    def _keep(self, role, model, record):
        self.records.append(record)
        self.models[role] = model
        self.keys[role] = record.get("model_key", role)

    def load_finished(self, role):
        """The finished model `role` of this run, or `None` if not finished yet."""
        model_path, record_path = self.path(f"{role}.keras"), self.path(f"{role}.json")
        if not (os.path.exists(model_path) and os.path.exists(record_path)):
            return None
        with open(record_path) as f:
            record = json.load(f)
        model = self.workspace.load(model_path)
        record["resumption"] = {"state": "loaded", "model": model_path}
        self._keep(role, model, record)
        shutil.rmtree(self.path("backup", role), ignore_errors=True)  # left by a kill after it was saved
        print(f"[kdkeras] {role}: finished earlier, loaded {model_path} (test accuracy {record['test_accuracy']:.4f})")
        return model

    def _from_store(self, role, key):
        """The model of `key` trained earlier by another run of `--model_store`, copied in as `role`; else None."""
        if self.store.fetch(key, self.output_dir, role):
            return self.load_finished(role)
        return None

    def _record(self, role, model, seconds, epochs, extra=None):
        """A model's line in `results.json`: its size, cost and test accuracy."""
        resumption = self.resumption.get(role)
        return records.model_record(role, model, self.splits.test, seconds, epochs, resumption, extra)

    def finish(self, role, model, epochs_trained, seconds, extra=None, key=None):
        """Evaluates `model` on the test split, saves it and its record (and in `--model_store`)."""
        extra = dict(extra or {})
        history = records.epoch_history(self.path(f"{role}_history.csv"))
        extra["images_trained"] = records.images_trained(epochs_trained, self.splits.info.num_train, history)
        extra["model_key"] = key or role
        before = self.resumption.get(role, {}).get("kdkeras_commit_before")
        extra["kdkeras_commit"] = provenance.with_this_commit(before)
        record = self._record(role, model, seconds, epochs_trained, extra)
        if self.chief:
            io.save_model_atomic(model, self.path(f"{role}.keras"))
            io.write_json_atomic(self.path(f"{role}.json"), record)
        self._keep(role, model, record)
        if key is not None:
            self.store.keep(key, self.output_dir, role)
        print(f"[kdkeras] {role} ({record['arch']}): test accuracy {record['test_accuracy']:.4f}, {seconds:.1f} s")
        return model

    def train_plain(self, role, arch, epochs, stop_at_accuracy=None, loss_weight=1.0):
        """Trains `arch` on the labels alone (cross-entropy), or loads it if finished.

        `loss_weight` multiplies the cross-entropy (Keras's `loss_weights`), not
        the weight decay: NOKD's control for a distiller's loss scale.
        """
        if role == "teacher" and self.shared_teacher is not None:
            return self.shared_teacher
        training = {"trained_by": "labels", "stop_at_accuracy": stop_at_accuracy}
        if loss_weight != 1.0:  # absent at 1, so the keys of models trained before the setting existed still match
            training["loss_weight"] = loss_weight
        key = self.model_key(arch, epochs, training)
        finished = self.load_finished(role) or self._from_store(role, key)
        if finished is not None:
            return finished
        model = self.build(arch)
        with self.strategy.scope():
            model.compile(
                optimizer=self.make_optimizer(epochs),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                loss_weights=None if loss_weight == 1.0 else loss_weight,
                metrics=["accuracy"],
                jit_compile=self.config.jit_compile,
                steps_per_execution=self.config.steps_per_execution,
            )
        epochs_trained, seconds = self.fit_loop.fit(role, model, self.splits.epoch_batches, epochs, stop_at_accuracy)
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
        caches, cache_records = {}, []
        for (name, model), source in zip(sorted(frozen.items()), sources):
            cache = teacher_cache.open_or_fill(
                model, self.splits, epochs, self.cache_dir, source=source, verbose=self.config.verbose
            )
            caches[name] = cache.table
            cache_records.append(cache.record(source))

        def epoch_batches(epoch, skip_batches=0):
            return self.splits.epoch_batches(epoch, caches, skip_batches)

        return epoch_batches, cache_records

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
        settings = distiller_settings(distiller)
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
        epochs_trained, seconds = self.fit_loop.fit(role, distiller, train_data, epochs, evaluated=student)
        seconds += extra.get("cache_seconds", 0.0)
        num_train = self.splits.info.num_train
        cached = bool(extra["teacher_cache"])
        # Only the networks of this run ran forward here (a shared teacher's work is its owner's).
        networks = [t for t in teachers if t in self.keys]
        extra["frozen_forward_images"] = records.frozen_forward_images(networks, epochs_trained, num_train, cached)
        if cached:
            extra["cache_fills"] = records.cache_fills(extra["caches"], num_train)
        return self.finish(role, student, epochs_trained, seconds, extra, key=key)

    def teacher(self):
        """The run's teacher: the shared one, else `--teacher_checkpoint`, else trained (or reused)."""
        if self.shared_teacher is not None:
            return self.shared_teacher
        config = self.config
        if config.teacher_checkpoint:
            return self.load_checkpoint(config.teacher_checkpoint, "--teacher_checkpoint")
        return self.train_plain("teacher", config.teacher, config.teacher_epochs)

    def load_checkpoint(self, path, flag):
        """Loads a `.keras` model given by `flag`, checks it fits the data, and records it as the teacher."""
        model = self.workspace.load_checkpoint(path, flag, self.splits.info)
        extra = {"checkpoint": os.path.abspath(path), "model_key": checkpoint_key(path)}
        self._keep("teacher", model, self._record("teacher", model, 0.0, 0, extra))
        return model

    def write_models_csv(self):
        """Writes `models.csv`: one row per trained model."""
        if not self.chief or not self.records:
            return
        records.write_models_csv(self.path("models.csv"), self.records)
