import time
import warnings

import keras
import numpy as np
import pytest

from kdkeras import provenance
from kdkeras.distillers import Distiller
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


def test_time_spent_not_training_is_left_out_of_the_training_seconds(tmp_path):
    backup = Backup(str(tmp_path), "epoch")
    backup.seconds_before = 10.0
    backup.clock_start = start = time.perf_counter()
    with backup.not_training():
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    assert backup.seconds_left_out >= 0.2
    assert 10.0 <= backup.training_seconds() <= 10.0 + elapsed - 0.2


def test_a_backup_keeps_the_commits_that_trained_the_model_so_far(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "LIBRARY_COMMIT", "bbbbbbb")
    backup = Backup(str(tmp_path), "epoch")
    backup.set_model(tiny_model())
    backup.save(1, 0)
    assert backup.latest()["kdkeras_commit"] == "bbbbbbb"

    resumed = Backup(str(tmp_path), "epoch")  # a later process, of another commit, going on from that backup
    resumed.set_model(tiny_model())
    monkeypatch.setattr(provenance, "LIBRARY_COMMIT", "aaaaaaa")
    resumed.commits_before = backup.latest()["kdkeras_commit"]
    resumed.save(2, 0)
    assert resumed.latest()["kdkeras_commit"] == "aaaaaaa, bbbbbbb"


def distillation(teacher, student):
    distiller = Distiller(student, teacher)
    distiller.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    return distiller


def backup_then_resume(tmp_path, written, resumed):
    """Backs up `written` after two epochs and restores it into `resumed` as a resumed run does."""
    x, y = np.random.default_rng(0).normal(size=(8, 8, 8, 3)), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    written.fit(x, y, batch_size=4, epochs=2, verbose=0)  # now it differs from `resumed`, momentum included
    writer = Backup(str(tmp_path), "epoch")
    writer.set_model(written)
    writer.save(2, 0)
    reader = Backup(str(tmp_path), "epoch")
    reader.set_model(resumed)
    reader.restore_on_train_begin(reader.latest())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "layers keep their freshly-initialized weights" from a load that failed
        reader.on_train_begin()
    for got, want in zip(resumed.weights + resumed.optimizer.variables, written.weights + written.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def fused_layers(model):
    return sum(type(layer) is FusedBatchNormalization for layer in model._flatten_layers())


def test_a_backup_from_before_the_fused_layer_resumes(tmp_path):
    # Before kdkeras's ResNets trained with the fused layer, a backup named every group `batch_normalization_k`.
    teacher, student = resnet(8, (8, 8, 3), 3, name="teacher"), resnet(8, (8, 8, 3), 3, name="student")
    resumed = distillation(with_keras_batch_norm(teacher), student)
    written = distillation(with_keras_batch_norm(teacher), with_keras_batch_norm(student))
    backup_then_resume(tmp_path, written, resumed)
    assert fused_layers(resumed.student) == 9 and fused_layers(resumed.teacher) == 0


def test_a_backup_of_a_teacher_trained_in_the_same_process_resumes_with_it_loaded_from_its_file(tmp_path):
    # TAKD's student, GSKD's later stages: the teacher trained moments before is fused in memory; the resumed
    # process loads it from its `.keras` file, which holds Keras's layer.
    teacher, student = resnet(8, (8, 8, 3), 3, name="teacher"), resnet(8, (8, 8, 3), 3, name="student")
    written = distillation(teacher, student)
    resumed = distillation(with_keras_batch_norm(teacher), resnet(8, (8, 8, 3), 3, name="student"))
    backup_then_resume(tmp_path, written, resumed)
    assert fused_layers(resumed.student) == 9 and fused_layers(resumed.teacher) == 0


def test_a_backup_that_does_not_fit_the_model_is_refused(tmp_path):
    writer = Backup(str(tmp_path), "epoch")
    writer.set_model(tiny_model())
    writer.save(1, 0)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    reader = Backup(str(tmp_path), "epoch")
    reader.set_model(other)
    reader.restore_on_train_begin(reader.latest())
    with pytest.raises(ValueError, match="could not be loaded|expected"):
        reader.on_train_begin()
