import csv
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from kdkeras import data, models
from kdkeras.config import TrainConfig
from kdkeras.pipelines.run import Run

TINY = dict(
    dataset="mnist_sample", teacher="plain2", student="plain2", epochs=1, teacher_epochs=1, batch_size=256,
    optimizer="adam", learning_rate=0.01, verbose=0, backup_every="epoch",
)  # fmt: skip


@pytest.fixture(scope="module")
def splits():
    return data.load("mnist_sample", batch_size=256)


def test_a_shared_teacher_is_the_runs_teacher_neither_trained_nor_recorded_here(tmp_path, splits):
    shared = models.get("plain2", (28, 28, 1), 10)
    config = TrainConfig(output_dir=str(tmp_path / "trial"), **TINY).validate()
    run = Run(config, splits, tf.distribute.get_strategy(), teacher=shared)
    assert run.teacher() is shared
    assert run.train_plain("teacher", "plain4", 3) is shared
    assert run.records == [] and run.models == {} and run.keys == {}
    assert not os.path.exists(tmp_path / "trial")


def test_a_model_another_run_trained_is_reused_from_the_store_and_a_finished_one_is_loaded(tmp_path, splits):
    strategy = tf.distribute.get_strategy()
    store = str(tmp_path / "store")
    config = TrainConfig(output_dir=str(tmp_path / "first"), model_store=store, **TINY).validate()
    first = Run(config, splits, strategy)
    trained = first.train_plain("teacher", "plain2", 1)
    record = first.records[-1]
    assert record["model_key"] == first.model_key("plain2", 1, {"trained_by": "labels", "stop_at_accuracy": None})
    assert record["images_trained"] == splits.info.num_train
    assert record["resumption"] == {"state": "started"}
    assert sorted(os.listdir(store)) == [f"{record['model_key']}.json", f"{record['model_key']}.keras"]

    second = Run(dataclasses.replace(config, output_dir=str(tmp_path / "second")), splits, strategy)
    reused = second.train_plain("teacher", "plain2", 1)
    assert second.records[-1]["reused_from"] == os.path.abspath(os.path.join(store, f"{record['model_key']}.keras"))
    assert second.keys == {"teacher": record["model_key"]}
    for a, b in zip(trained.get_weights(), reused.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not os.path.exists(tmp_path / "second" / "teacher_history.csv")  # not trained again

    again = Run(config, splits, strategy)
    again.train_plain("teacher", "plain2", 1)
    assert again.records[-1]["resumption"] == {"state": "loaded", "model": str(tmp_path / "first" / "teacher.keras")}
    again.write_models_csv()
    assert open(tmp_path / "first" / "models.csv").read().splitlines()[0].startswith("role,arch,params")

    worker = Run(dataclasses.replace(config, output_dir=str(tmp_path / "worker")), splits, strategy, chief=False)
    assert worker.store.directory is None  # only the chief reads and writes the store
    assert json.load(open(tmp_path / "first" / "teacher.json"))["test_accuracy"] == record["test_accuracy"]


def test_test_every_epoch_logs_the_test_accuracy_of_each_epoch_and_trains_the_same_model(tmp_path, splits):
    # A slice of the sample (4 batches to train on, 2 to test), so that two runs of 2 epochs take seconds.
    splits = dataclasses.replace(
        splits,
        train_examples=splits.train_examples.take(1024),
        test=splits.test.take(2),
        info=dataclasses.replace(splits.info, num_train=1024),
    )
    strategy = tf.distribute.get_strategy()
    trained = {}
    for tested in (False, True):
        config = TrainConfig(output_dir=str(tmp_path / str(tested)), test_every_epoch=tested, **TINY).validate()
        run = Run(config, splits, strategy)
        trained[tested] = run.train_plain("teacher", "plain2", 2)
    with open(tmp_path / "True" / "teacher_history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert [row["epoch"] for row in history] == ["0", "1"]
    seconds = [float(row["train_seconds"]) for row in history]
    record = run.records[-1]
    assert 0 < seconds[0] < seconds[1] <= record["train_seconds"]
    assert float(history[-1]["test_accuracy"]) == record["test_accuracy"]  # measured as the record measures it
    assert 0 < float(history[0]["test_accuracy"]) <= 1 and float(history[0]["test_loss"]) > 0
    for a, b in zip(trained[False].get_weights(), trained[True].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_loss_weight_multiplies_the_labels_cross_entropy_and_keys_the_model_apart(tmp_path, splits):
    config = TrainConfig(output_dir=str(tmp_path / "run"), **TINY).validate()
    run = Run(config, splits, tf.distribute.get_strategy())
    model = run.train_plain("student", "plain2", 1, loss_weight=5.0)
    labels_alone = {"trained_by": "labels", "stop_at_accuracy": None}
    assert run.records[-1]["model_key"] == run.model_key("plain2", 1, dict(labels_alone, loss_weight=5.0))
    assert run.records[-1]["model_key"] != run.model_key("plain2", 1, labels_alone)
    images, labels = next(iter(splits.test))
    logits = model.predict(images, verbose=0).astype(np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    cross_entropy = -log_probs[np.arange(len(labels)), labels.numpy()].mean()
    loss = model.evaluate(images, labels, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(5.0 * cross_entropy + sum(float(x) for x in model.losses), rel=1e-4)
