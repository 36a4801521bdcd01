"""Runs that survive interruption and divergence; bad input never gives a traceback."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError
from tests.conftest import FAST_FLAGS, ROOT, run_module

RESUME_FLAGS = [f for f in FAST_FLAGS if not f.startswith("--epochs")] + ["--method=blkd", "--epochs=4"]


def start_training(output_dir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    args = [sys.executable, "-m", "kdkeras.train", f"--output_dir={output_dir}", *RESUME_FLAGS]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def completed_epochs(history_csv):
    if not os.path.exists(history_csv):
        return 0
    with open(history_csv) as f:
        return max(0, len(f.read().strip().splitlines()) - 1)


@pytest.mark.slow  # 62 s; tests/test_runs.py's slow kill test covers resumption mid-epoch more strictly
def test_sigkill_mid_epoch_then_rerun_resumes(tmp_path):
    reference = run_module("kdkeras.train", f"--output_dir={tmp_path / 'reference'}", *RESUME_FLAGS)
    assert reference.returncode == 0, reference.stdout[-2000:] + reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "results.json").read_text())

    out = tmp_path / "killed"
    process = start_training(out)
    deadline = time.time() + 300
    while completed_epochs(out / "student_history.csv") < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # into the third epoch of the student
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert completed_epochs(out / "student_history.csv") < 4, "the run finished before it could be killed"
    assert (out / "teacher.keras").exists() and not (out / "results.json").exists()
    assert os.listdir(out / "backup" / "student")

    resumed = run_module("kdkeras.train", f"--output_dir={out}", *RESUME_FLAGS)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "teacher: finished earlier" in resumed.stdout
    results = json.loads((out / "results.json").read_text())
    assert completed_epochs(out / "student_history.csv") == 4
    assert results["models"][1]["epochs"] == 4  # counted from the start, not from the restart
    assert results["teacher"]["test_accuracy"] == expected["teacher"]["test_accuracy"]
    # Weights, optimizer state and schedule resume exactly from the last
    # completed epoch; the epochs after the restart are shuffled anew, so
    # allow 2 points on the 2,000 test digits.
    assert abs(results["student"]["test_accuracy"] - expected["student"]["test_accuracy"]) <= 0.02


@pytest.mark.slow  # an end-to-end training of over ten seconds: in `pytest -m slow`
def test_diverging_loss_stops_with_a_message_and_keeps_finished_work(tmp_path):
    out = tmp_path / "run"
    flags = [f for f in FAST_FLAGS if not f.startswith(("--optimizer", "--learning_rate"))]
    result = run_module(
        "kdkeras.train",
        "--method=blkd",
        f"--output_dir={out}",
        *flags,
        "--optimizer=sgd",
        "--learning_rate=1e9",
        "--teacher_checkpoint=" + str(make_teacher(tmp_path)),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "student diverged" in last and "epoch 1" in last and "learning rate" in last
    assert not (out / "results.json").exists()


def make_teacher(tmp_path):
    from kdkeras import models

    path = tmp_path / "teacher.keras"
    models.get("plain2", (28, 28, 1), 10).save(path)
    return path


FIELDS = {
    "method": st.sampled_from(["blkd", "wskd", "gskd", "takd", "bogus", ""]),
    "temperature": st.floats(allow_nan=True, allow_infinity=True),
    "alpha": st.floats(allow_nan=True, allow_infinity=True),
    "epochs": st.integers(-5, 5),
    "batch_size": st.integers(-2, 4),
    "student": st.sampled_from(["resnet8", "plain2", "resnet9", "", "RESNET8"]),
    "stages": st.lists(st.sampled_from(["resnet8", "resnet14", "x"]), max_size=3).map(tuple),
    "assistants": st.lists(st.sampled_from(["resnet14", "y"]), max_size=2).map(tuple),
    "wskd_correction": st.sampled_from(["lift", "swap", "flip"]),
    "wskd_beta": st.floats(-1, 2),
    "tfkd_correct_prob": st.floats(0, 1.5),
    "learning_rate": st.floats(-1, 1),
    "strategy": st.sampled_from(["auto", "mirrored", "gpu"]),
    "teacher_cache": st.sampled_from(["auto", "on", "off", "maybe"]),
    "augment": st.booleans(),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=FIELDS))
def test_any_flag_combination_validates_or_names_a_flag(values):
    try:
        TrainConfig(**values).validate()
    except UsageError as error:
        message = str(error)
        assert message.startswith("--") and "\n" not in message


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04 truncated zip", b"\x00" * 64],
    ids=["empty", "truncated zip", "zeros"],
)
def test_corrupt_checkpoints_name_the_flag(tmp_path, content):
    from kdkeras import data
    from kdkeras.pipelines import Run

    path = tmp_path / "teacher.keras"
    path.write_bytes(content)
    import tensorflow as tf

    config = TrainConfig(teacher_checkpoint=str(path), output_dir=str(tmp_path / "out")).validate()
    run = Run(config, data.load("mnist_sample", batch_size=256), tf.distribute.get_strategy())
    with pytest.raises(UsageError, match="--teacher_checkpoint"):
        run.teacher()
    assert path.read_bytes() == content


def test_truncated_keras_file_from_a_real_model(tmp_path):
    from kdkeras import data
    from kdkeras.pipelines import Run

    good = make_teacher(tmp_path)
    data_bytes = good.read_bytes()
    broken = tmp_path / "broken.keras"
    broken.write_bytes(data_bytes[: len(data_bytes) // 2])
    import tensorflow as tf

    config = TrainConfig(teacher_checkpoint=str(broken), output_dir=str(tmp_path / "out")).validate()
    run = Run(config, data.load("mnist_sample", batch_size=256), tf.distribute.get_strategy())
    with pytest.raises(UsageError, match="not a readable .keras model"):
        run.teacher()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="-=abcdefgilmnoprstuvx0123456789._,:/ ", max_size=30), max_size=4))
def test_random_command_lines_exit_2_or_parse(argv):
    from absl import flags

    from kdkeras.config import from_flags as config_from_flags
    from kdkeras.train import FLAGS, parse_flags

    FLAGS.unparse_flags()
    try:
        parse_flags(["kdkeras.train", *argv])
        config_from_flags(FLAGS).validate()
    except SystemExit as exit:
        assert exit.code == 2
    except UsageError:
        pass
    except flags.Error:
        pytest.fail("a flag error escaped the exit-2 path")
    finally:
        FLAGS.unparse_flags()


@pytest.fixture(scope="module")
def tflite_bytes(tmp_path_factory):
    """A real float32 `.tflite` file of a small untrained model."""
    from edge import export_tflite
    from kdkeras import models

    path = tmp_path_factory.mktemp("tflite") / "plain2.tflite"
    export_tflite(models.get("plain2", (28, 28, 1), 10), "float32", str(path))
    return path.read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_tflite_files_name_the_flag(tmp_path, tflite_bytes, data):
    from edge import benchmark_tflite
    from kdkeras import data as kd_data

    kind = data.draw(st.sampled_from(["truncated", "flipped", "random"]))
    if kind == "truncated":
        content = tflite_bytes[: data.draw(st.integers(0, len(tflite_bytes) - 1))]
    elif kind == "flipped":
        content = bytearray(tflite_bytes)
        for index in data.draw(st.lists(st.integers(0, len(content) - 1), min_size=1, max_size=50)):
            content[index] ^= 0xFF
        content = bytes(content)
    else:
        content = data.draw(st.binary(max_size=4096))
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    test = kd_data.load("mnist_sample", batch_size=8).test.take(1)
    try:
        benchmark_tflite(str(path), test, runs=2, warmup=1)
    except UsageError as error:
        assert str(error).startswith("--model=")
    assert path.read_bytes() == content
