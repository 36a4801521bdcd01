import csv
import io
import os

from kdkeras.config import TrainConfig
from kdkeras.study import collect, report
from kdkeras.study import plan as study_plan

HEADER = ",".join(collect.CSV_COLUMNS)
# Two rows of a study whose records are gone, as results.csv holds them (an in-study teacher per seed).
COMMITTED = [
    "nokd,0,resnet8,0.9655,,,False,1,329.123,,0.0,329.123,24000,24000,0,75363264000,75363264000,78714,25121088,"
    "95976,0.9664,0.3717740000865888,44448,95976,,student(resnet8): fwd 24000 bwd 24000,student(resnet8)=0.9655,"
    "runs/s/nokd/seed0",
    "blkd,0,resnet8,0.983,resnet20,0.982,True,1,44.5,,168.25,212.75,32000,24000,8000,900000,1900000,78714,"
    "25121088,95976,0.9768,0.4,44448,95976,,student(resnet8): fwd 24000 bwd 24000; teacher(resnet20): fwd 8000,"
    "teacher(resnet20)=0.9820; student(resnet8)=0.9830,runs/s/blkd/seed0",
]


def test_a_committed_cell_reads_back_as_the_value_that_writes_it_again():
    for text in ("0", "0.8076", "1195.679", "0.0", "1000000", "True", "False", "", "1e-05", "007", "x=0.1"):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([collect.typed(text), "end"])
        assert buffer.getvalue() == f"{text},end\n"
    assert collect.typed("0") == 0 and collect.typed("0.5") == 0.5 and collect.typed("True") is True


def make_plan(tmp_path, **changes):
    settings = dict(
        recipe=TrainConfig(teacher="resnet20"),
        methods=["nokd", "blkd", "wskd"],
        seeds=[0],
        extra_methods=[],
        extra_seeds=[0],
        variants={},
        output_dir="runs/s",
        edge="off",
        results_dir=str(tmp_path / "results"),
    )
    settings.update(changes)
    return study_plan.Plan(**settings)


def test_rows_whose_records_are_lost_are_kept_from_the_committed_csv_byte_for_byte(tmp_path):
    plan = make_plan(tmp_path)
    os.makedirs(plan.report_dir)
    committed = "\n".join([HEADER, *COMMITTED]) + "\n"
    path = os.path.join(plan.report_dir, "results.csv")
    with open(path, "w", newline="") as f:
        f.write(committed.replace("\n", "\r\n"))  # as csv writes it
    evidence = collect.collect(plan)
    assert evidence.lost == [("nokd", 0), ("blkd", 0)] and evidence.payloads == []
    blkd = evidence.rows[1]
    assert blkd["seed"] == 0 and blkd["student_accuracy"] == 0.983 and blkd["uses_shared_teacher"] is True
    assert blkd["records_lost"] and blkd["diagnostics"] == {} and collect.training_curves(evidence.rows) == {}
    # The shared teacher of seed 0 as the row that learned from it recorded it.
    assert evidence.teachers == {
        0: {"seed": 0, "arch": "resnet20", "accuracy": 0.982, "seconds": 168.25, "flops": 1000000, "payload": None}
    }
    report.write_csv(path, evidence.rows)
    with open(path, newline="") as f:
        assert f.read() == committed.replace("\n", "\r\n")
    assert collect.collect(make_plan(tmp_path, output_dir="runs/other")).rows == []  # another study's rows


def test_a_lost_teacher_checkpoint_record_is_the_one_teacher_the_rows_name(tmp_path):
    plan = make_plan(tmp_path, recipe=TrainConfig(teacher_checkpoint=str(tmp_path / "gone" / "student.keras")))
    rows = [collect.lost_row(collect.typed_row(next(csv.DictReader([HEADER, line])))) for line in COMMITTED]
    assert collect.lost_external_teacher(plan, rows) == {
        "arch": "resnet20",
        "accuracy": 0.982,
        "seconds": None,
        "record_lost": True,
        "flags": {},
    }
    other = {**rows[1], "teacher_accuracy": 0.5, "seed": 1}
    assert collect.lost_external_teacher(plan, [*rows, other]) is None  # two teachers: none can be named
