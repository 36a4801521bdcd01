"""Where a run's models are made and kept: its directory, and the strategy they are built under."""

import hashlib
import os

import keras
import tensorflow as tf

from kdkeras import models
from kdkeras.errors import UsageError

__all__ = ["Workspace", "checkpoint_key"]


def checkpoint_key(path):
    """A model file's key: the hash of its bytes (a checkpoint given by the user has no recipe to hash)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:32]


class Workspace:
    """A run's directory and `tf.distribute` strategy: the paths of its files, and its models built or loaded there.

    Args:
        output_dir: the run's directory (`--output_dir`).
        strategy: the `tf.distribute.Strategy` every model is built and loaded under.
        chief: whether this process writes the files of record (in a
            multi-worker run, one process does).

    Example:

    ```python
    workspace = Workspace("runs/blkd", tf.distribute.get_strategy())
    teacher = workspace.build("resnet8", splits.info, seed=0)
    workspace.path("teacher.keras")  # "runs/blkd/teacher.keras"
    ```

    Reference:
        TensorFlow, "Distributed training with Keras" (variables are created
        under `strategy.scope()`): https://www.tensorflow.org/tutorials/distribute/keras
    """

    def __init__(self, output_dir, strategy, chief=True):
        self.output_dir = output_dir
        self.strategy = strategy
        self.chief = chief

    def path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    @property
    def multi_worker(self):
        """Whether the strategy spans several workers (Keras `fit` cannot drive it)."""
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    @property
    def worker(self):
        """This process's name among the workers: empty for the chief, `worker<i>` for the others."""
        return "" if self.chief else f"worker{self.strategy.cluster_resolver.task_id}"

    def build(self, arch, info, seed):
        """Builds architecture `arch` for data `info` under the strategy, the random seed set to `seed` first.

        The seed is set again before every model, so a model's initial
        weights depend on `--seed` and its architecture alone, not on what
        the run built before it: the same model in two methods is the same.
        """
        keras.utils.set_random_seed(seed)
        with self.strategy.scope():
            return models.get(arch, info.input_shape, info.num_classes, info.normalization)

    def load(self, path):
        """The `.keras` model at `path`, loaded under the strategy (uncompiled)."""
        with self.strategy.scope():
            return keras.models.load_model(path, compile=False)

    def load_checkpoint(self, path, flag, info):
        """Loads a `.keras` model the user gave as `flag` and checks it fits data `info`; else `UsageError`."""
        if not os.path.isfile(path):
            raise UsageError(f"{flag}={path}: no such file; expected a .keras model")
        try:
            model = self.load(path)
        except Exception as error:
            raise UsageError(f"{flag}={path}: not a readable .keras model ({type(error).__name__})") from None
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
        return model
