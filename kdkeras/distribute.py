"""The tf.distribute strategy of a run, made before any model is built."""

import tensorflow as tf

from kdkeras.errors import UsageError


def make_strategy(name="auto", tpu=None):
    """Returns the `tf.distribute.Strategy` named by `--strategy`.

    `auto` is MirroredStrategy over all GPUs when there are several, else
    the default strategy; `default` is the single-device strategy;
    `mirrored` mirrors over every local GPU (or the CPU when there is none);
    `multi_worker` reads `TF_CONFIG`; `tpu` connects to `--tpu`.
    """
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise UsageError(f"--strategy=tpu: no TPU found at --tpu={tpu or '(local)'} ({error})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise UsageError(f"--strategy={name}: expected auto, default, mirrored, multi_worker or tpu")


def is_chief(strategy):
    """True on the worker that writes results, checkpoints and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return (
        task_type is None
        or task_type == "chief"
        or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())
    )
