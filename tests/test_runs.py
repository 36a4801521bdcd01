"""Runs left alone for hours: one process per directory, resumption said and recorded, little lost."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from kdkeras import io
from kdkeras.errors import TrainingError, UsageError
from kdkeras.run_directory import CLAIM_FILE, claim
from tests.conftest import FAST_FLAGS, ROOT, run_module

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def start(*args):
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=ENV, **pipes)


def wait_for(condition, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def claim_text(directory):
    path = os.path.join(directory, CLAIM_FILE)
    return open(path).read().strip() if os.path.exists(path) else ""


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_a_second_run_on_a_directory_ends_at_once_naming_the_first(tmp_path):
    out = str(tmp_path / "run")
    flags = [f for f in FAST_FLAGS if not f.startswith("--teacher_epochs")] + ["--teacher_epochs=50"]
    first = start("-m", "kdkeras.train", f"--output_dir={out}", *flags)
    try:
        wait_for(lambda: claim_text(out) or first.poll() is not None)
        assert first.poll() is None, first.communicate()[1][-2000:]
        second = run_module("kdkeras.train", f"--output_dir={out}", *flags)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert f"process {first.pid} on host {socket.gethostname()}" in lines[-1] and "--output_dir" in lines[-1]
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first goes on
    finally:
        first.kill()
        first.wait()


def test_a_claim_left_by_a_killed_process_is_taken_over_saying_whose(tmp_path, capsys):
    directory = str(tmp_path / "run")
    code = (
        "import os, signal\nfrom kdkeras.run_directory import claim\n"
        f"claim({directory!r}).acquire()\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    dead = start("-c", code)
    dead.wait()
    assert dead.returncode == -signal.SIGKILL
    assert json.loads(claim_text(directory))["pid"] == dead.pid
    with claim(directory) as mine:
        assert mine.previous["pid"] == dead.pid
        assert json.loads(claim_text(directory))["pid"] == os.getpid()
        with pytest.raises(UsageError, match=f"process {os.getpid()} on host"):
            claim(directory, what="study").acquire()
    assert f"taking over the stale claim of process {dead.pid}" in capsys.readouterr().out
    assert claim_text(directory) == ""  # released cleanly: the next one takes over nothing
    with claim(directory) as again:
        assert again.previous is None


def test_tune_uses_output_dir_as_its_directory_and_refuses_two_names_for_it(tmp_path):
    from kdkeras import tune

    flags = ["kdkeras.tune", "--method=blkd", "--dataset=mnist_sample", "--teacher=plain2", "--student=plain2"]
    flags.append("--validation_fraction=0.1")
    try:
        tune.FLAGS(flags + [f"--output_dir={tmp_path / 'x'}"])
        _, options = tune.from_flags(tune.FLAGS)
        assert options.tune_dir == str(tmp_path / "x")
        assert options.best_output_dir == str(tmp_path / "x" / "best")
        tune.FLAGS.unparse_flags()
        tune.FLAGS(flags + [f"--output_dir={tmp_path / 'x'}", f"--tune_dir={tmp_path / 'y'}"])
        with pytest.raises(UsageError, match="both name the search's directory; give one"):
            tune.from_flags(tune.FLAGS)
    finally:
        tune.FLAGS.unparse_flags()


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_file_and_keeps_its_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    io.write_json_atomic(str(path), {"version": 1})
    monkeypatch.setattr(io.json, "dump", full_disk)
    with pytest.raises(TrainingError) as error:
        io.write_json_atomic(str(path), {"version": 2})
    message = str(error.value)
    assert str(path) in message and "No space left on device" in message and "\n" not in message
    assert json.loads(path.read_text()) == {"version": 1}
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary left


def test_a_full_disk_while_saving_a_model_ends_with_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    import keras

    from kdkeras import cli, models

    model = models.get("plain2", (28, 28, 1), 10)
    path = str(tmp_path / "teacher.keras")
    io.save_model_atomic(model, path)
    before = open(path, "rb").read()

    def save_half_then_fail(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(before[: len(before) // 2])
        full_disk()

    monkeypatch.setattr(keras.Model, "save", save_half_then_fail)
    with pytest.raises(SystemExit) as exit:
        cli.run(lambda argv: io.save_model_atomic(model, path))(["kdkeras.train"])
    assert exit.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and "previous version is kept" in lines[0]
    assert open(path, "rb").read() == before


RESUME = [f for f in FAST_FLAGS if not f.startswith(("--teacher_epochs", "--verbose"))] + [
    "--method=blkd",
    "--teacher_epochs=3",
    "--backup_every=4",
    "--verbose=0",
]


def backup_state(out):
    path = os.path.join(out, "backup", "teacher", "latest.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_a_kill_mid_epoch_resumes_from_the_last_batch_backup_and_says_so(tmp_path):
    reference = run_module("kdkeras.train", f"--output_dir={tmp_path / 'reference'}", *RESUME)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "results.json").read_text())
    assert expected["resumption"] == {"teacher": {"state": "started"}, "student": {"state": "started"}}

    out = str(tmp_path / "killed")
    process = start("-m", "kdkeras.train", f"--output_dir={out}", *RESUME)
    wait_for(lambda: (backup_state(out) or {}).get("epoch") == 1 and backup_state(out)["batch"] > 0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = backup_state(out)
    assert state["epoch"] == 1 and 0 < state["batch"] < 32 and state["batch"] % 4 == 0

    resumed = run_module("kdkeras.train", f"--output_dir={out}", *RESUME)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"teacher: resumed after batch {state['batch']}/" in resumed.stdout
    assert "of epoch 2/3 from the backup" in resumed.stdout
    assert "student: started" in resumed.stdout
    results = json.loads((tmp_path / "killed" / "results.json").read_text())
    teacher = results["resumption"]["teacher"]
    assert (teacher["state"], teacher["epoch"], teacher["batch"]) == ("resumed", 2, state["batch"])
    # The killed process's training seconds count too.
    assert teacher["seconds_before"] == state["train_seconds"] > 0
    # The commits that trained it before the kill are named (here the same one as after it).
    assert teacher["kdkeras_commit_before"] == state["kdkeras_commit"] == results["models"][0]["kdkeras_commit"]
    assert results["models"][0]["train_seconds"] > state["train_seconds"]
    assert results["models"][0]["epochs"] == 3
    assert not os.path.exists(os.path.join(out, "backup"))
    # Same batches in the same order from the same weights and optimizer state:
    # the resumed run is the uninterrupted one up to float rounding.
    for role in ("teacher", "student"):
        assert abs(results[role]["test_accuracy"] - expected[role]["test_accuracy"]) <= 0.005
    again = run_module("kdkeras.train", f"--output_dir={out}", *RESUME)
    assert json.loads((tmp_path / "killed" / "results.json").read_text())["resumption"]["teacher"]["state"] == "loaded"
    assert again.returncode == 0
