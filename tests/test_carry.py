"""`tools/carry.py`: unfinished runs carried in git across machines, on synthetic run folders (no training)."""

import fcntl
import importlib.util
import json
import os
import shutil

import pytest

from tests.conftest import ROOT, run_python

_spec = importlib.util.spec_from_file_location("carry_tool", os.path.join(ROOT, "tools", "carry.py"))
carry = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(carry)

RUN = os.path.join("runs", "mlperf", "blkd")
# What resuming the synthetic run needs: the finished teacher, the student's backup, the small records.
CARRIED = {
    "run.json",
    "models.csv",
    "teacher.keras",
    "teacher.json",
    "teacher_history.csv",
    "student_history.csv",
    "backup/student/latest.json",
    "backup/student/epoch2-batch0.weights.h5",
    "backup/student/worker1/latest.json",
    "backup/student/worker1/epoch2-batch0.weights.h5",
}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def back_up(folder, epoch, batch):
    """A backup as `Backup.save` leaves it: the weights file, then `latest.json` naming it, the older file gone."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.endswith(".weights.h5"):
            os.remove(os.path.join(folder, name))
    name = f"epoch{epoch}-batch{batch}.weights.h5"
    write(os.path.join(folder, name), os.urandom(300) + f"{epoch}/{batch}".encode())
    state = {"epoch": epoch, "batch": batch, "stopped": False, "weights": name, "train_seconds": 12.5 * epoch}
    write(os.path.join(folder, "latest.json"), json.dumps(state))


@pytest.fixture
def checkout(tmp_path):
    """A checkout with one unfinished run: its teacher finished, its student backed up after epoch 2."""
    run = tmp_path / RUN
    write(str(run / "run.json"), json.dumps({"method": "blkd", "teacher_checkpoint_sha256": "ab" * 32}))
    write(str(run / "models.csv"), "role,arch\nteacher,resnet26\n")
    write(str(run / "teacher.keras"), os.urandom(900))
    write(str(run / "teacher.json"), json.dumps({"role": "teacher", "test_accuracy": 0.9}))
    write(str(run / "teacher_history.csv"), "epoch,loss\n0,1.0\n")
    write(str(run / "student_history.csv"), "epoch,loss\n0,2.0\n1,1.5\n")
    back_up(str(run / "backup" / "teacher"), 3, 0)  # a finished model's leftover backup: not needed
    back_up(str(run / "backup" / "student"), 2, 0)
    back_up(str(run / "backup" / "student" / "worker1"), 2, 0)
    write(str(run / "backup" / "student" / "epoch1-batch5.weights.h5"), b"orphan")  # named by no latest.json
    write(str(run / "cache" / "f00d.npy"), os.urandom(4000))
    write(str(run / "cache" / "f00d.json"), "{}")  # a cache's header: not a record to carry
    write(str(run / "logs" / "student" / "train" / "events.out.tfevents.1"), b"tb")
    write(str(run / "logs" / "student" / "train" / "plugin.json"), "{}")
    write(str(run / "student_int8.tflite"), b"tflite")
    write(str(run / "claim.lock"), "")
    write(str(run / ".tmp-abc.json"), "{")
    return str(tmp_path)


def files_under(folder):
    found = set()
    for here, _, files in os.walk(folder):
        found |= {os.path.relpath(os.path.join(here, f), folder) for f in files}
    return found


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_save_carries_exactly_what_resuming_needs(checkout):
    (line,) = carry.save([os.path.join(checkout, RUN)], checkout)
    carried = os.path.join(checkout, "carry", RUN)
    assert files_under(carried) == CARRIED
    for path in CARRIED:
        assert read(os.path.join(carried, path)) == read(os.path.join(checkout, RUN, path)), path
    total = sum(os.path.getsize(os.path.join(carried, p)) for p in CARRIED)
    assert line.startswith(f"{RUN}: carried teacher finished, student after epoch 2, student/worker1 after epoch 2")
    assert f"{total:,} bytes" in line and f"{len(CARRIED)} files written, 0 dropped" in line
    assert "--teacher_checkpoint is not carried" in line

    # The backup moves on: the carry's older weights file goes, the new one comes.
    back_up(os.path.join(checkout, RUN, "backup", "student"), 3, 40)
    (line,) = carry.save([os.path.join(checkout, RUN)], checkout)
    assert "student at batch 40 of epoch 4" in line and "1 dropped" in line
    assert sorted(os.listdir(os.path.join(carried, "backup", "student"))) == [
        "epoch3-batch40.weights.h5",
        "latest.json",
        "worker1",
    ]
    # Nothing changed: nothing is written again.
    (line,) = carry.save([os.path.join(checkout, RUN)], checkout)
    assert "0 files written, 0 dropped" in line


def test_restore_puts_the_run_back(checkout):
    run = os.path.join(checkout, RUN)
    carry.save([run], checkout)
    shutil.rmtree(os.path.join(checkout, "runs"))  # a new machine: runs/ is gone

    (line,) = carry.restore(checkout)
    assert line.startswith(f"{RUN}: restored teacher finished, student after epoch 2")
    assert "the run folder had nothing" in line
    assert files_under(run) == CARRIED | {"claim.lock"}
    for path in CARRIED:
        assert read(os.path.join(run, path)) == read(os.path.join(checkout, "carry", RUN, path)), path
    assert carry.restore(checkout) == [f"{RUN}: up to date (teacher finished, student after epoch 2, "
                                       "student/worker1 after epoch 2); nothing restored"]  # fmt: skip

    # A run folder with an older backup (started afresh before restoring) gets the carry's, its older weights gone.
    back_up(os.path.join(run, "backup", "student"), 0, 7)
    (line,) = carry.restore(checkout)
    assert "the run folder had teacher finished, student at batch 7 of epoch 1" in line
    assert "1 older weights files dropped" in line
    assert sorted(os.listdir(os.path.join(run, "backup", "student"))) == [
        "epoch2-batch0.weights.h5",
        "latest.json",
        "worker1",
    ]


def test_a_newer_backup_is_never_overwritten(checkout):
    run = os.path.join(checkout, RUN)
    carry.save([run], checkout)
    back_up(os.path.join(run, "backup", "student"), 4, 0)
    newer = read(os.path.join(run, "backup", "student", "latest.json"))
    (line,) = carry.restore(checkout)
    assert line.startswith(f"{RUN}: NOT restored: the run folder holds")
    assert read(os.path.join(run, "backup", "student", "latest.json")) == newer
    assert os.listdir(os.path.join(run, "backup", "student")).count("epoch2-batch0.weights.h5") == 0

    # Nor is a carry ahead of the run folder replaced by it: a run started afresh before `restore`.
    carry.save([run], checkout)
    shutil.rmtree(os.path.join(run, "backup"))
    os.remove(os.path.join(run, "teacher.keras"))
    back_up(os.path.join(run, "backup", "teacher"), 1, 0)
    (line,) = carry.save([run], checkout)
    assert line.startswith(f"{RUN}: NOT saved: carry/{RUN} holds teacher finished, student after epoch 4")
    assert os.path.exists(os.path.join(checkout, "carry", RUN, "backup", "student", "epoch4-batch0.weights.h5"))


def test_a_run_in_use_is_not_restored(checkout):
    run = os.path.join(checkout, RUN)
    carry.save([run], checkout)
    shutil.rmtree(os.path.join(run, "backup"))
    with open(os.path.join(run, "claim.lock"), "w") as claim:
        claim.write('{"pid": 4242}')
        claim.flush()
        fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (line,) = carry.restore(checkout)
    assert line == f'{RUN}: NOT restored: the run folder is in use ({{"pid": 4242}})'
    assert not os.path.exists(os.path.join(run, "backup"))


def test_a_finished_run_drops_its_carry(checkout):
    run = os.path.join(checkout, RUN)
    carry.save([run], checkout)
    write(os.path.join(run, "results.json"), "{}")
    assert carry.restore(checkout)[0].startswith(f"{RUN}: finished (results.json); not restored")
    (line,) = carry.save([run], checkout)
    assert line.startswith(f"{RUN}: finished (results.json); removed its carry (")
    assert os.listdir(os.path.join(checkout, "carry")) == []  # its empty parents go too
    assert carry.save([run], checkout) == [f"{RUN}: finished (results.json); nothing carried"]
    assert carry.restore(checkout) == [f"nothing carried in {os.path.join(checkout, 'carry')}"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "error: no command; expected `save RUN_DIR...` or `restore`"),
        (["frobnicate"], "error: unknown command 'frobnicate'; expected `save RUN_DIR...` or `restore`"),
        (["save"], "error: save: no RUN_DIR given; expected `save RUN_DIR...` or `restore`"),
        (["save", "runs/nope"], "error: RUN_DIR runs/nope: no such folder; expected a run's --output_dir"),
        (["save", "runs"], "error: RUN_DIR runs: not a run folder (no run.json); expected the --output_dir of a"),
        (["save", "/"], "error: RUN_DIR /: outside the checkout's run folders; expected a run's --output_dir"),
        (["save", f"carry/{RUN}"], f"error: RUN_DIR carry/{RUN}: outside the checkout's run folders"),
        (["restore", "x"], "error: restore: unexpected arguments x; it restores every carried run"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(checkout, args, message, capsys, monkeypatch):
    carry.save([os.path.join(checkout, RUN)], checkout)  # so that carry/<run> exists
    monkeypatch.chdir(checkout)
    monkeypatch.setattr(carry, "FLAGS", type("Flags", (), {"checkout": checkout}))
    with pytest.raises(SystemExit) as stop:
        carry.main(["carry.py", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(message), err


def test_the_command_names_a_bad_checkout_in_one_line(tmp_path):
    result = run_python(
        os.path.join(ROOT, "tools", "carry.py"), "restore", f"--checkout={tmp_path}/nope", cwd=tmp_path, timeout=300
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --checkout={tmp_path}/nope: no such folder; expected the checkout whose runs are carried"
    )
    assert "Traceback" not in result.stderr
