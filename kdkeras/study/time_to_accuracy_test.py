import json

import pytest

from kdkeras.errors import UsageError
from kdkeras.study import time_to_accuracy as tta

HEADER = "epoch,accuracy,loss,test_accuracy,test_loss,train_seconds"


def make_run(folder, models, history, role="student"):
    """A run folder: `results.json` listing `models` (the final one last) and the final model's history."""
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"method": "blkd", "models": models}))
    (folder / f"{role}_history.csv").write_text("\n".join(history) + "\n")
    return str(folder)


def student(**extra):
    return {"role": "student", "arch": "plain2", "test_accuracy": 0.88, "epochs": 3, **extra}


@pytest.fixture
def blkd(tmp_path):
    """A BLKD run: its teacher trained in the run (100 s), the student's cache fill 5 s; epoch 2 logged twice
    (a kill after its row, before its backup: the second row is the one kept)."""
    teacher = {"role": "teacher", "arch": "plain4", "test_accuracy": 0.9, "train_seconds": 100.0}
    rows = [HEADER, "0,0.7,1.0,0.80,0.9,12.0", "1,0.8,0.8,0.84,0.7,24.0", "1,0.8,0.8,0.86,0.7,25.0"]
    rows.append("2,0.9,0.5,0.88,0.5,40.0")
    return make_run(tmp_path / "blkd", [teacher, student(train_seconds=47.5, cache_seconds=5.0)], rows)


def test_the_first_epoch_and_seconds_that_reach_the_target_alone_and_with_the_teacher(blkd):
    run = tta.read_run("blkd", blkd, 0.85)
    assert (run["target_epoch"], run["target_seconds"], run["target_seconds_with_teacher"]) == (2, 25.0, 130.0)
    assert [(e["epoch"], e["train_seconds"], e["test_accuracy"]) for e in run["epochs"]] == [
        (1, 12.0, 0.80),
        (2, 25.0, 0.86),
        (3, 40.0, 0.88),
    ]
    assert [e["train_seconds_with_teacher"] for e in run["epochs"]] == [117.0, 130.0, 145.0]  # + 100 + 5
    # The record's seconds hold the cache fill: the model alone 47.5 - 5, with its teacher 42.5 + 5 + 100.
    assert (run["train_seconds"], run["cache_seconds"], run["teacher_seconds"]) == (42.5, 5.0, 100.0)
    assert run["train_seconds_with_teacher"] == 147.5
    assert run["teachers"] == [{"role": "teacher", "arch": "plain4", "train_seconds": 100.0, "record": "results.json"}]
    never = tta.read_run("blkd", blkd, 0.95)
    assert never["target_epoch"] is never["target_seconds"] is never["target_seconds_with_teacher"] is None


def test_a_checkpoint_teachers_seconds_come_from_its_own_record(tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "student.json").write_text(json.dumps({"train_seconds": 300.0}))
    teacher = {
        "role": "teacher",
        "arch": "resnet26",
        "train_seconds": 0.0,
        "checkpoint": str(tmp_path / "kept" / "student.keras"),
    }
    rows = [HEADER, "0,0.5,1.0,0.70,1.0,20.0", "1,0.6,0.9,0.86,0.8,40.0"]
    folder = make_run(tmp_path / "run", [teacher, student(train_seconds=41.0)], rows)
    run = tta.read_run("run", folder, 0.85)
    assert (run["target_epoch"], run["target_seconds"], run["target_seconds_with_teacher"]) == (2, 40.0, 340.0)
    assert run["teachers"][0]["train_seconds"] == 300.0

    said = []
    (tmp_path / "kept" / "student.json").unlink()
    run = tta.read_run("run", folder, 0.85, said.append)
    assert run["teacher_seconds"] is run["train_seconds_with_teacher"] is run["target_seconds_with_teacher"] is None
    assert run["target_seconds"] == 40.0 and len(said) == 1 and "student.keras" in said[0]


def test_a_cache_read_from_another_run_counts_its_fill_in_the_seconds_with_teacher(tmp_path):
    teacher = {"role": "teacher", "arch": "plain4", "train_seconds": 100.0}
    rows = [HEADER, "0,0.7,1.0,0.86,0.9,12.0"]
    read = {"source": "teacher", "cache": "abc", "filled": False, "seconds": 0.0, "fill_seconds": 30.0}
    folder = make_run(tmp_path / "dist", [teacher, student(train_seconds=12.0, caches=[read])], rows)
    run = tta.read_run("dist", folder, 0.85)
    # Its own 12 s, nothing filled by it, the 30 s fill it read and the teacher's 100 s: 142 s from nothing.
    assert (run["train_seconds"], run["cache_seconds"], run["shared_fill_seconds"]) == (12.0, 0.0, 30.0)
    assert run["train_seconds_with_teacher"] == run["target_seconds_with_teacher"] == 142.0

    said = []
    older = {**read, "fill_seconds": None}
    folder = make_run(tmp_path / "older", [teacher, student(train_seconds=12.0, caches=[older])], rows)
    run = tta.read_run("older", folder, 0.85, said.append)
    assert run["train_seconds_with_teacher"] is None and run["target_seconds"] == 12.0
    assert len(said) == 1 and "abc" in said[0]


def test_runs_without_the_columns_are_said_and_left_out_and_the_files_are_written(tmp_path, blkd):
    old = make_run(tmp_path / "old", [student(train_seconds=9.0)], ["epoch,accuracy,loss", "0,0.5,1.0"])
    nokd = make_run(
        tmp_path / "nokd",
        [student(train_seconds=30.0)],
        [
            "epoch,accuracy,loss,test_accuracy,test_loss,train_seconds,val_loss",
            "0,0.5,1.0,NA,NA,14.0,NA",
            "1,0.6,0.9,0.9,0.8,29.0,NA",
        ],
    )
    said = []
    payload = tta.time_to_accuracy(tta.parse_runs(f"blkd={blkd}, old={old},nokd={nokd}"), 0.85, said.append)
    assert [r["label"] for r in payload["runs"]] == ["blkd", "nokd"] and payload["skipped"] == ["old"]
    assert len(said) == 1 and said[0].startswith("[time_to_accuracy] old: ") and "--test_every_epoch" in said[0]
    nokd_run = payload["runs"][1]
    assert nokd_run["untested_epochs"] == [1] and nokd_run["target_epoch"] == 2
    assert nokd_run["target_seconds"] == nokd_run["target_seconds_with_teacher"] == 29.0  # no teacher

    paths = tta.write(str(tmp_path / "out"), payload)
    assert json.loads(open(paths[0]).read()) == payload
    table = open(paths[1]).read()
    assert "| blkd | blkd | student (plain2) | 3 | 88.00 | 42.5 | 147.5 | 2 | 25.0 | 130.0 |" in table
    assert "Left out (no per-epoch test accuracy or seconds): old." in table
    assert open(paths[2], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "text, message",
    [("", "--runs: expected label=DIR"), ("a=x,a=y", "the label 'a' is given twice"), ("a=", "'a=': expected")],
)
def test_bad_runs_name_the_flag(text, message):
    with pytest.raises(UsageError, match=message):
        tta.parse_runs(text)


def test_a_folder_without_results_or_a_target_out_of_range_is_refused_naming_it(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        tta.time_to_accuracy([("x", str(tmp_path / "missing"))], 0.85)
    with pytest.raises(UsageError, match=r"results\.json: not found; expected a kdkeras run folder"):
        tta.time_to_accuracy([("x", str(tmp_path))], 0.85)
    with pytest.raises(UsageError, match=r"^--target=85: expected a fraction"):
        tta.time_to_accuracy([("x", str(tmp_path))], 85)
