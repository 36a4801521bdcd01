"""One replica and two replicas make the same updates for the same global batch."""

import json
import os

from tests.conftest import ROOT, run_python

# Float32 sums in a different order: differences of a few ulps per step.
TOLERANCE = 1e-5


def test_mirrored_strategy_matches_default_strategy():
    result = run_python(os.path.join(ROOT, "tests", "distribute_equivalence.py"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == {"blkd", "wskd", "wskd_errors_on_one_replica", "gskd"}
    for method, facts in report.items():
        assert facts["replicas"] == 2
        assert facts["max_weight_difference"] < TOLERANCE, (method, facts)
    assert report["wskd"]["step2_examples"][0] == report["wskd"]["step2_examples"][1]
    assert report["wskd_errors_on_one_replica"]["step2_examples"] == [[4.0, 4.0], [4.0, 4.0]]


def relation_methods_equivalence():
    """Run in a subprocess (2 logical CPUs, set before TensorFlow starts); prints one JSON line.

    DIST's intra-class relation is a batch statistic: its loss and its
    gradients summed across 2 replicas must equal those of 1 replica on the
    same global batch. DKD (whose warm-up reads the optimizer's step) and
    BLKD with logit standardization train to the same weights.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np

    import kdkeras
    from kdkeras import losses

    def tiny(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(5)])

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.integers(0, 5, size=64)
    teacher_logits = (3 * rng.normal(size=(64, 5))).astype("float32")

    def dist_loss_and_gradients(strategy):
        with strategy.scope():
            model = tiny(2)
        batches = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((x, teacher_logits)).batch(64)
        )

        @tf.function
        def step(images, logits):
            def replica(images, logits):
                with tf.GradientTape() as tape:
                    total, _, _ = losses.correlation_kd_per_example(model(images), logits, 4.0, 2.0, 2.0)
                    share = losses.global_mean(total)
                return share, tape.gradient(share, model.trainable_variables)

            share, grads = strategy.run(replica, args=(images, logits))
            reduce = tf.distribute.ReduceOp.SUM
            return strategy.reduce(reduce, share, axis=None), [strategy.reduce(reduce, g, axis=None) for g in grads]

        loss, grads = step(*next(iter(batches)))
        return float(loss), [np.asarray(g) for g in grads]

    mirrored = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    single_loss, single_grads = dist_loss_and_gradients(tf.distribute.get_strategy())
    multi_loss, multi_grads = dist_loss_and_gradients(mirrored)
    student_logits = tiny(2)(x)
    halves = [
        float(losses.correlation_kd_per_example(student_logits[part], teacher_logits[part], 4.0)[2][0])
        for part in (slice(0, 32), slice(32, 64))
    ]
    whole = float(losses.correlation_kd_per_example(student_logits, teacher_logits, 4.0)[2][0])

    makers = {
        "dkd": lambda s, t: kdkeras.DecoupledDistiller(s, t, temperature=2.0, beta=4.0, warmup_steps=5),
        "dist": lambda s, t: kdkeras.CorrelationDistiller(s, t, tau=2.0),
        "blkd_ls": lambda s, t: kdkeras.Distiller(s, t, temperature=2.0, alpha=0.7, logit_standardization=True),
    }

    def train(strategy, method):
        with strategy.scope():
            student, teacher = tiny(2), tiny(1)
            distiller = makers[method](student, teacher)
            distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        history = distiller.fit(data, epochs=2, verbose=0)
        return [np.array(w) for w in student.weights], history.history["loss"][-1]

    trained = {}
    for method in makers:
        (single, single_last), (multi, multi_last) = (
            train(tf.distribute.get_strategy(), method),
            train(mirrored, method),
        )
        trained[method] = {
            "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi)),
            "loss": [single_last, multi_last],
        }
    report = {
        "replicas": mirrored.num_replicas_in_sync,
        "dist_loss": [single_loss, multi_loss],
        "dist_max_gradient_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single_grads, multi_grads)),
        "dist_max_gradient": max(float(np.max(np.abs(g))) for g in single_grads),
        "intra_whole_batch": whole,
        "intra_per_half": halves,
        "trained": trained,
    }
    print(json.dumps(report))


def test_dist_intra_relation_is_over_the_global_batch_and_new_methods_match_across_replicas():
    code = "from tests.test_distribute import relation_methods_equivalence as run; run()"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    single, multi = report["dist_loss"]
    assert abs(single - multi) < TOLERANCE * max(1.0, abs(single)), report
    assert report["dist_max_gradient"] > 1e-3, report  # the gradients compared are not all zero
    assert report["dist_max_gradient_difference"] < TOLERANCE, report
    # A per-replica intra relation would differ from the global one on this batch: the test can fail.
    assert abs(sum(report["intra_per_half"]) / 2 - report["intra_whole_batch"]) > 1e-3, report
    for method, facts in report["trained"].items():
        assert facts["max_weight_difference"] < TOLERANCE, (method, facts)
