import json
import os
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras.errors import DivergenceError
from kdkeras.pipelines import records
from kdkeras.pipelines.fit_loop import FitLoop
from kdkeras.pipelines.workspace import Workspace

STEPS = 4
X = np.random.default_rng(0).normal(size=(STEPS * 8, 5)).astype("float32")
Y = (X[:, 0] > 0).astype("int64")


def epoch_batches(epoch, skip_batches=0):
    """Each epoch's own order, a function of the epoch alone (as `Splits.epoch_batches`)."""
    order = np.random.default_rng(epoch).permutation(len(X))
    return tf.data.Dataset.from_tensor_slices((X[order], Y[order])).batch(8).skip(skip_batches)


def compiled(x_scale=1.0):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    model.compile(
        keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


TEST = tf.data.Dataset.from_tensor_slices((X[:12], Y[:12])).batch(5)


def loop(tmp_path, backup_every="epoch", test=None):
    return FitLoop(Workspace(str(tmp_path), tf.distribute.get_strategy()), STEPS, backup_every, verbose=0, test=test)


def seconds_of(history):
    return [float(row["train_seconds"]) for row in history]


def test_a_model_trains_its_epochs_logging_each_and_keeping_a_backup_of_the_last(tmp_path):
    fit_loop = loop(tmp_path)
    epochs, seconds = fit_loop.fit("teacher", compiled(), epoch_batches, 3)
    assert epochs == 3 and seconds > 0
    assert fit_loop.resumption == {"teacher": {"state": "started"}}
    history = records.epoch_history(str(tmp_path / "teacher_history.csv"))
    assert [row["epoch"] for row in history] == ["0", "1", "2"]
    state = json.load(open(tmp_path / "backup" / "teacher" / "latest.json"))
    assert (state["epoch"], state["batch"], state["stopped"]) == (3, 0, False)
    assert os.path.isdir(tmp_path / "logs" / "teacher")


def test_a_model_resumed_from_its_backup_ends_as_the_one_trained_without_a_break(tmp_path):
    whole = compiled()
    loop(tmp_path / "whole").fit("teacher", whole, epoch_batches, 3)
    loop(tmp_path / "broken").fit("teacher", compiled(), epoch_batches, 2)  # then the process ends
    resumed_loop = loop(tmp_path / "broken")
    resumed = compiled()
    epochs, _ = resumed_loop.fit("teacher", resumed, epoch_batches, 3)
    assert epochs == 3
    resumption = resumed_loop.resumption["teacher"]
    assert (resumption["state"], resumption["epoch"], resumption["batch"]) == ("resumed", 3, 0)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [row["epoch"] for row in records.epoch_history(str(tmp_path / "broken" / "teacher_history.csv"))] == [
        "0",
        "1",
        "2",
    ]


def test_a_model_backed_up_after_its_last_epoch_trains_no_further(tmp_path):
    trained = compiled()
    loop(tmp_path).fit("teacher", trained, epoch_batches, 2)
    again = compiled()
    epochs, _ = loop(tmp_path).fit("teacher", again, epoch_batches, 2)
    assert epochs == 2
    for a, b in zip(trained.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_stops_after_the_first_epoch_that_reaches_the_accuracy(tmp_path):
    epochs, _ = loop(tmp_path).fit("teacher", compiled(), epoch_batches, 5, stop_at_accuracy=0.0)
    assert epochs == 1
    state = json.load(open(tmp_path / "backup" / "teacher" / "latest.json"))
    assert (state["epoch"], state["stopped"]) == (1, True)


def test_a_non_finite_loss_stops_training_naming_the_model_epoch_and_batch(tmp_path):
    def poisoned(epoch, skip_batches=0):
        x = np.where(np.arange(len(X))[:, None] >= 16, np.nan, X).astype("float32")
        return tf.data.Dataset.from_tensor_slices((x, Y)).batch(8).skip(skip_batches)

    with pytest.raises(DivergenceError, match=r"^the student diverged: loss nan at epoch 1, batch 3; ") as error:
        loop(tmp_path).fit("student", compiled(), poisoned, 2)
    assert str(tmp_path) in str(error.value)


def test_every_epoch_logs_its_training_seconds_and_given_the_test_split_its_accuracy_and_loss(tmp_path):
    plain = compiled()
    _, plain_seconds = loop(tmp_path / "plain").fit("teacher", plain, epoch_batches, 3)
    history = records.epoch_history(str(tmp_path / "plain" / "teacher_history.csv"))
    assert list(history[0]) == ["epoch", "accuracy", "loss", "train_seconds"]
    seconds = seconds_of(history)
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= plain_seconds

    tested = compiled()
    _, tested_seconds = loop(tmp_path / "tested", test=TEST).fit("teacher", tested, epoch_batches, 3)
    history = records.epoch_history(str(tmp_path / "tested" / "teacher_history.csv"))
    assert list(history[0]) == ["epoch", "accuracy", "loss", "test_accuracy", "test_loss", "train_seconds"]
    seconds = seconds_of(history)
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= tested_seconds
    accuracy, loss = records.evaluate(tested, TEST)
    assert (float(history[-1]["test_accuracy"]), float(history[-1]["test_loss"])) == (accuracy, loss)
    for a, b in zip(plain.get_weights(), tested.get_weights()):  # the evaluation changed nothing trained
        np.testing.assert_array_equal(a, b)


def test_the_test_evaluation_is_no_training_time_and_a_resumed_run_goes_on_logging(tmp_path, monkeypatch):
    evaluated = []

    def slow_evaluate(model, dataset):
        evaluated.append(model)
        time.sleep(0.25)
        return 0.5, 1.0

    monkeypatch.setattr(records, "evaluate", slow_evaluate)
    student = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])  # as a distiller's student
    start = time.perf_counter()
    _, seconds = loop(tmp_path, test=TEST).fit("teacher", compiled(), epoch_batches, 2, evaluated=student)
    assert seconds <= time.perf_counter() - start - 2 * 0.25
    assert evaluated == [student, student]
    # Resumed by a process without the test split, then with it again: one row per epoch, each under its header.
    loop(tmp_path).fit("teacher", compiled(), epoch_batches, 3)
    _, resumed_seconds = loop(tmp_path, test=TEST).fit("teacher", compiled(), epoch_batches, 4)
    history = records.epoch_history(str(tmp_path / "teacher_history.csv"))
    assert [(row["epoch"], row["test_accuracy"]) for row in history] == [
        ("0", "0.5"),
        ("1", "0.5"),
        ("2", "NA"),
        ("3", "0.5"),
    ]
    seconds = seconds_of(history)
    assert seconds == sorted(seconds) and seconds[-1] <= resumed_seconds
    state = json.load(open(tmp_path / "backup" / "teacher" / "latest.json"))
    assert seconds[-1] <= state["train_seconds"] <= resumed_seconds
