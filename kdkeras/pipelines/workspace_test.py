import hashlib

import numpy as np
import pytest
import tensorflow as tf

from kdkeras import io, models
from kdkeras.data import DatasetInfo
from kdkeras.errors import UsageError
from kdkeras.pipelines.workspace import Workspace, checkpoint_key

MNIST = DatasetInfo(name="mnist_sample", input_shape=(28, 28, 1), num_classes=10, num_train=7200, num_test=2000)


def test_paths_are_inside_the_run_directory_and_the_chief_has_no_worker_name(tmp_path):
    workspace = Workspace(str(tmp_path), tf.distribute.get_strategy())
    assert workspace.path("logs", "teacher") == str(tmp_path / "logs" / "teacher")
    assert workspace.worker == "" and not workspace.multi_worker


def test_a_model_built_from_the_same_seed_has_the_same_weights_whatever_was_built_before(tmp_path):
    workspace = Workspace(str(tmp_path), tf.distribute.get_strategy())
    first = workspace.build("plain2", MNIST, seed=1)
    workspace.build("plain4", MNIST, seed=1)
    np.random.random(10)  # random state used in between
    again = workspace.build("plain2", MNIST, seed=1)
    other_seed = workspace.build("plain2", MNIST, seed=2)
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), other_seed.get_weights()))


def test_a_checkpoint_that_does_not_fit_the_data_names_the_flag(tmp_path):
    workspace = Workspace(str(tmp_path), tf.distribute.get_strategy())
    with pytest.raises(UsageError, match=r"^--teacher_checkpoint=.*missing.keras: no such file"):
        workspace.load_checkpoint(str(tmp_path / "missing.keras"), "--teacher_checkpoint", MNIST)
    hundred = str(tmp_path / "hundred.keras")
    io.save_model_atomic(models.get("plain2", (28, 28, 1), 100), hundred)
    with pytest.raises(UsageError, match="the model has 100 outputs, but --dataset=mnist_sample has 10 classes"):
        workspace.load_checkpoint(hundred, "--teacher_checkpoint", MNIST)
    colour = str(tmp_path / "colour.keras")
    io.save_model_atomic(models.get("plain2", (28, 28, 3), 10), colour)
    with pytest.raises(UsageError, match="the channels not"):
        workspace.load_checkpoint(colour, "--teacher_checkpoint", MNIST)
    fits = str(tmp_path / "fits.keras")
    io.save_model_atomic(models.get("plain2", (28, 28, 1), 10), fits)
    assert workspace.load_checkpoint(fits, "--teacher_checkpoint", MNIST).outputs[0].shape[-1] == 10
    assert checkpoint_key(fits) == hashlib.sha256(open(fits, "rb").read()).hexdigest()[:32]
