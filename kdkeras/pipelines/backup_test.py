import time
import warnings

import keras
import numpy as np
import pytest

from kdkeras.errors import UsageError
from kdkeras.models import FusedBatchNormalization, resnet
from kdkeras.models.fused_batch_norm import with_keras_batch_norm
from kdkeras.pipelines.backup import Backup, parse_interval


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    return model


@pytest.mark.parametrize(
    "text, expected",
    [("5m", ("seconds", 300.0)), ("90s", ("seconds", 90.0)), ("200", ("batches", 200)), ("epoch", ("epoch", 1))],
)
def test_intervals(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "2.5", "soon"])
def test_bad_intervals_name_the_flag(text):
    with pytest.raises(UsageError, match="--backup_every"):
        parse_interval(text)


def test_a_backup_keeps_the_training_seconds_of_this_process_and_the_earlier_ones(tmp_path):
    backup = Backup(str(tmp_path), "epoch")
    backup.set_model(tiny_model())
    backup.seconds_before = 10.0  # what the resumed backup recorded
    backup.clock_start = time.perf_counter() - 5.0  # this process has trained for 5 s
    backup.save(1, 0)
    state = backup.latest()
    assert (state["epoch"], state["batch"], state["stopped"]) == (1, 0, False)
    assert 15.0 <= state["train_seconds"] < 16.0

    backup.save(2, 0)  # the previous weights file is replaced, not kept beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch2-batch0.weights.h5", "latest.json"]


def test_a_backup_written_with_keras_batch_norm_resumes_a_model_with_the_fused_layer(tmp_path):
    # Backups taken before kdkeras's ResNets trained with FusedBatchNormalization name their
    # groups `batch_normalization_k`; a resumed run builds the fused layer.
    x, y = np.random.default_rng(0).normal(size=(8, 8, 8, 3)), np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]]
    fused = resnet(8, (8, 8, 3), 3)
    fused.compile(keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    plain = with_keras_batch_norm(fused)
    plain.fit(x, y, batch_size=4, epochs=2, verbose=0)  # now it differs from `fused`, momentum included
    writer = Backup(str(tmp_path), "epoch")
    writer.set_model(plain)
    writer.save(2, 0)

    reader = Backup(str(tmp_path), "epoch")
    reader.set_model(fused)
    reader.restore_on_train_begin(reader.latest())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "layers keep their freshly-initialized weights" from the first try
        reader.on_train_begin()

    for got, want in zip(fused.weights + fused.optimizer.variables, plain.weights + plain.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert any(type(layer) is FusedBatchNormalization for layer in fused._flatten_layers())


def test_a_backup_that_does_not_fit_the_model_is_refused(tmp_path):
    writer = Backup(str(tmp_path), "epoch")
    writer.set_model(tiny_model())
    writer.save(1, 0)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    reader = Backup(str(tmp_path), "epoch")
    reader.set_model(other)
    reader.restore_on_train_begin(reader.latest())
    with pytest.raises(ValueError):
        reader.on_train_begin()
