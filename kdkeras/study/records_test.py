import json
import os

from kdkeras.config import TrainConfig
from kdkeras.study import plan as study_plan
from kdkeras.study import records


def write(path, content="{}"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)


def fake_run(run_dir):
    """A finished run's folder: its records, and what is not one (models, backups' weights, logs, TFLite)."""
    for name in (
        "results.json",
        "run.json",
        "student.json",
        "student_history.csv",
        "models.csv",
        "tflm_footprint.json",
        "backup/student/latest.json",
    ):
        write(os.path.join(run_dir, name), json.dumps({"file": name}) if name.endswith(".json") else "epoch\n0\n")
    for name in ("student.keras", "backup/student/epoch1-batch0.weights.h5", "student_int8.tflite", "logs/a.json"):
        write(os.path.join(run_dir, name), "x")
    write(os.path.join(run_dir, ".tmp-abc.json"))


def plan_of(teacher_checkpoint, methods, output_dir, results_dir):
    """A one-seed study of `methods` with a `--teacher_checkpoint`."""
    return study_plan.Plan(
        recipe=TrainConfig(teacher_checkpoint=str(teacher_checkpoint)),
        methods=methods,
        seeds=[0],
        extra_methods=[],
        extra_seeds=[0],
        variants={},
        output_dir=str(output_dir),
        edge="off",
        results_dir=str(results_dir),
    )


def test_the_small_records_are_the_json_and_csv_files_outside_the_logs(tmp_path):
    fake_run(str(tmp_path))
    assert records.small_records(str(tmp_path)) == [
        os.path.join("backup", "student", "latest.json"),
        "models.csv",
        "results.json",
        "run.json",
        "student.json",
        "student_history.csv",
        "tflm_footprint.json",
    ]


def test_keep_copies_finished_runs_the_cache_headers_and_the_teacher_once(tmp_path):
    teacher_dir = tmp_path / "teacher_run"
    fake_run(str(teacher_dir))
    plan = plan_of(teacher_dir / "student.keras", ["nokd", "blkd"], tmp_path / "runs", tmp_path / "results")
    fake_run(plan.run_dir("blkd", 0))
    write(plan.run_dir("nokd", 0) + "/student_history.csv", "epoch\n")  # unfinished: no results.json
    write(os.path.join(plan.cache_dir, "k.json"), "{}")
    write(os.path.join(plan.cache_dir, "k.npy"), "table")
    write(os.path.join(plan.cache_dir, "f.partial.json"), "{}")  # a fill in progress: not a header yet

    assert records.keep(plan) == 7 + 1 + 1 + 7  # blkd's records, a cache header, the checkpoint, its records
    kept = tmp_path / "results"
    assert sorted(os.listdir(kept / "records")) == ["blkd", "cache"]
    assert os.listdir(kept / "records" / "cache") == ["k.json"]
    assert (kept / "records" / "blkd" / "seed0" / "backup" / "student" / "latest.json").exists()
    assert not (kept / "records" / "blkd" / "seed0" / "student.keras").exists()
    assert (kept / "teacher" / "student.keras").read_text() == "x" and (kept / "teacher" / "results.json").exists()
    assert records.keep(plan) == 0  # nothing changed: nothing written again

    write(plan.run_dir("blkd", 0) + "/student_history.csv", "epoch\n0\n1\n")
    assert records.keep(plan) == 1
    payload, found = records.find_results(plan.run_dir("blkd", 0), plan.records_dir("blkd", 0))
    assert found == plan.run_dir("blkd", 0) and payload == {"file": "results.json"}
    assert records.find_results(str(tmp_path / "none"), plan.records_dir("blkd", 0))[1] == plan.records_dir("blkd", 0)


def test_a_teacher_kept_beside_another_report_is_not_copied_again(tmp_path):
    teacher_dir = tmp_path / "results" / "first_study" / "teacher"
    fake_run(str(teacher_dir))
    plan = plan_of(teacher_dir / "student.keras", ["blkd"], tmp_path / "runs", tmp_path / "results" / "second_study")
    assert records.keep(plan) == 0
    assert not (tmp_path / "results" / "second_study" / "teacher").exists()
