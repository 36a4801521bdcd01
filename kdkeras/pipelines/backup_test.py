import time

import keras
import numpy as np
import pytest

from kdkeras.errors import UsageError
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
