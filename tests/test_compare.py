"""`python tools/compare.py`: a tiny comparison end to end, its resumption, and bad input."""

import csv
import json
import os
import statistics
import subprocess

import pytest

from kdkeras.errors import UsageError
from kdkeras.study import collect, plots, report
from kdkeras.study import plan as study_plan
from tests.conftest import FAST_FLAGS, ROOT, run_python


def run_compare(*args, timeout=600):
    return run_python("tools/compare.py", *args, timeout=timeout)


@pytest.mark.slow  # a minute of end-to-end training: in `pytest -m slow`
def test_tiny_comparison_shares_the_teacher_and_resumes(tmp_path):
    out = tmp_path / "compare"
    args = ["--methods=nokd,blkd,wskd", "--seeds=1", f"--output_dir={out}", "--edge=off", *FAST_FLAGS]
    first = run_compare(*args)
    assert first.returncode == 0, (first.stdout[-2000:], first.stderr[-3000:])
    assert "run 4/4" in first.stdout  # progress: the shared teacher, then 3 methods

    study_csv = (out / "results.csv").read_bytes()
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["method"], r["seed"]) for r in rows) == [("blkd", "0"), ("nokd", "0"), ("wskd", "0")]
    for row in rows:
        assert 0.0 <= float(row["student_accuracy"]) <= 1.0
        assert float(row["train_seconds"]) > 0 and int(row["train_flops"]) > 0
        assert int(row["images_backward"]) >= 8000  # 1 epoch of the 8,000 training digits
        assert int(row["models_trained"]) == 1
    by_method = {r["method"]: r for r in rows}
    assert by_method["nokd"]["teacher_accuracy"] == "" and by_method["nokd"]["uses_shared_teacher"] == "False"
    for method in ("blkd", "wskd"):
        row = by_method[method]
        assert row["uses_shared_teacher"] == "True"
        # the shared teacher's cost is added to, not counted inside, the method's own
        assert float(row["total_seconds"]) > float(row["train_seconds"])
        assert int(row["total_train_flops"]) > int(row["train_flops"])
        assert int(row["teacher_forward_images"]) >= 8000
    # WSKD's second update adds images beyond BLKD's
    assert int(by_method["wskd"]["images_backward"]) >= int(by_method["blkd"]["images_backward"])

    # The teacher was trained once, in teacher/seed0, and both distillers loaded it.
    teacher_checkpoint = str(out / "teacher" / "seed0" / "student.keras")
    assert os.path.exists(teacher_checkpoint)
    teacher = json.loads((out / "teacher" / "seed0" / "results.json").read_text())
    for method in ("blkd", "wskd"):
        results = json.loads((out / method / "seed0" / "results.json").read_text())
        assert results["flags"]["teacher_checkpoint"] == os.path.abspath(teacher_checkpoint)
        loaded = results["models"][0]
        assert loaded["role"] == "teacher" and loaded["epochs"] == 0
        assert loaded["test_accuracy"] == pytest.approx(teacher["student"]["test_accuracy"])
        assert not (out / method / "seed0" / "teacher.keras").exists()
        assert float(by_method[method]["teacher_accuracy"]) == pytest.approx(teacher["student"]["test_accuracy"])

    markdown = (out / "results.md").read_text()
    for method in ("nokd", "blkd", "wskd"):
        assert f"| {method} |" in markdown
    assert "shared teacher" in markdown and "--epochs=1" in markdown
    teacher_row = next(line for line in markdown.splitlines() if line.startswith("| *shared teacher* |"))
    assert "| 1 | " in teacher_row and "±" not in teacher_row  # one seed: no spread to show
    assert (out / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "`curves.png`" in markdown
    assert not (out / "latency.png").exists() and "--edge=off" in markdown

    # Started again, it repeats nothing.
    finished = sorted(out.rglob("results.json"))
    assert len(finished) == 4
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    again = run_compare(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished earlier, skipped") == 4
    assert "[kdkeras] training" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in finished} == mtimes

    # Each run records what produced it.
    recorded = json.loads((out / "nokd" / "seed0" / "results.json").read_text())["provenance"]
    assert set(recorded) == {
        "kdkeras_commit",
        "written_by_commit",
        "tensorflow",
        "keras",
        "python",
        "cpu",
        "logical_cpus",
    }

    # A report of a study in progress trains nothing, lists what is missing, and names the external teacher.
    report_args = [a if not a.startswith("--methods=") else "--methods=nokd,blkd,wskd,tfkd_reg" for a in args]
    report = run_compare(
        *report_args,
        f"--teacher_checkpoint={teacher_checkpoint}",
        "--report_only",
        "--reference=teacher=50,nokd=50,blkd=99.5",
        "--reference_source=a made-up peer",
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "[kdkeras] training" not in report.stdout and not (out / "tfkd_reg").exists()
    markdown = (out / "results.md").read_text()
    assert "| tfkd_reg | (not run yet) |" in markdown
    teacher_percent = f"{100 * teacher['student']['test_accuracy']:.2f}"
    assert f"trained outside the study) | {teacher['student']['arch']} | 1 | {teacher_percent} |" in markdown
    assert f"counts under each): {recorded['kdkeras_commit']}: 3 runs" in markdown
    teacher_seconds = teacher["student"]["train_seconds"]
    assert (
        f"trained outside the study (1 epochs, {teacher_seconds:.0f} s, kdkeras {recorded['kdkeras_commit']})"
        in markdown
    )
    assert "--report_only" not in markdown  # the command shown is the one that trains the study

    # The check against the reference: means over seeds, differences in points, agreement within 0.7.
    assert "Reference: a made-up peer." in markdown
    nokd, blkd = (float(by_method[m]["student_accuracy"]) for m in ("nokd", "blkd"))
    for name, mine, theirs in (("nokd", nokd, 0.5), ("blkd", blkd, 0.995)):
        difference = 100 * (mine - theirs)
        agrees = "yes" if abs(difference) <= 0.7 else "no"
        gain = f"{100 * (mine - nokd):+.2f} / {100 * (theirs - 0.5):+.2f}" if name == "blkd" else ""
        assert (
            f"| {name} | {100 * mine:.2f} (1) | {100 * theirs:.2f} | {difference:+.2f} | {agrees} | {gain} |"
            in markdown
        )
    assert f"| teacher | {teacher_percent} (1) | 50.00 |" in markdown

    # The evidence beside the report: a results folder apart from the runs keeps each run's small records (no
    # model), and with the runs gone the same results.csv is rebuilt from them.
    published = tmp_path / "published"
    kept = run_compare(*args, f"--results_dir={published}", "--report_only")
    assert kept.returncode == 0, kept.stderr[-3000:]
    records = published / "records"
    assert sorted(p.name for p in records.iterdir()) == ["blkd", "cache", "nokd", "teacher", "wskd"]
    assert (records / "teacher" / "seed0" / "results.json").exists()
    assert (records / "wskd" / "seed0" / "student_history.csv").exists()
    assert not list(published.rglob("*.keras")) and not list(records.rglob("logs"))
    csv_bytes = (published / "results.csv").read_bytes()
    assert csv_bytes == study_csv
    os.rename(out, tmp_path / "gone")
    again = run_compare(*args, f"--results_dir={published}", "--report_only")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (published / "results.csv").read_bytes() == csv_bytes
    assert "Records lost" not in (published / "results.md").read_text()

    # A run whose records are lost keeps its committed row, and the report says so.
    for path in sorted((records / "wskd").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    lost = run_compare(*args, f"--results_dir={published}", "--report_only")
    assert lost.returncode == 0, lost.stderr[-3000:]
    assert (published / "results.csv").read_bytes() == csv_bytes
    markdown = (published / "results.md").read_text()
    assert "## Records lost" in markdown and "holds them: wskd (seed 0)." in markdown


BAD_INPUTS = {
    "--methods": ["--methods=nokd,kd"],
    "--seeds": ["--seeds=two"],
    "--method": ["--method=blkd"],
    "--reference names": ["--reference=kd=50"],
    "--reference values": ["--reference=nokd=high"],
    "--peer": ["--peer=results/none.json", "--reference=nokd=50"],
    "--variant": ["--variant=teacher:wskd:wskd_margin=2"],
}

# Every case through the command's entry point in one process (loading TensorFlow once, not seven times); the
# first case also as a real process, for its exit status and the one line at the end of its stderr.
ALL_CASES_IN_ONE_PROCESS = """
import contextlib, io, json, sys
sys.path.insert(0, "tools")
import compare
from kdkeras import cli
outcomes = {}
for case, argv in json.loads(sys.argv[1]).items():
    compare.FLAGS.unparse_flags()
    sys.argv = ["tools/compare.py", *argv]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            compare.main(cli.parse_flags(sys.argv))
            code = 0
        except SystemExit as exit:
            code = exit.code
    outcomes[case] = {"code": code, "stderr": stderr.getvalue()}
print(json.dumps(outcomes))
"""


def assert_one_error_line(code, stderr, flag, stdout=""):
    """Exit status 2, no traceback, and a last line of stderr that is an error naming `flag`."""
    assert code == 2, (stdout[-1000:], stderr[-2000:])
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and flag in last


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "out"
    cases = {case: [f"--output_dir={out}", *FAST_FLAGS, *extra] for case, extra in BAD_INPUTS.items()}
    result = run_python("-c", ALL_CASES_IN_ONE_PROCESS, json.dumps(cases))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(bad_input_outcomes, case):
    out, outcomes = bad_input_outcomes
    assert_one_error_line(outcomes[case]["code"], outcomes[case]["stderr"], case.split()[0])
    assert not out.exists()


def test_bad_input_as_a_process_is_one_line_and_exit_2(tmp_path):
    result = run_compare(f"--output_dir={tmp_path / 'out'}", *FAST_FLAGS, *BAD_INPUTS["--methods"])
    assert_one_error_line(result.returncode, result.stderr, "--methods", result.stdout)
    assert not (tmp_path / "out").exists()


def test_a_student_with_the_shared_teachers_seed_is_said_to_see_its_training_crops():
    import types

    def plan(augment, seeds):
        return types.SimpleNamespace(recipe=types.SimpleNamespace(augment=augment), all_seeds=seeds)

    teacher = {"flags": {"seed": 0, "augment": True}}
    assert "seed-0 students see its own training crops" in report.shared_crops_note(plan(True, [0, 1, 2]), teacher)
    assert report.shared_crops_note(plan(True, [1, 2, 3]), teacher) == ""
    assert report.shared_crops_note(plan(False, [0, 1, 2]), teacher) == ""
    assert report.shared_crops_note(plan(True, [0]), {"flags": {"seed": 0, "augment": False}}) == ""
    assert report.shared_crops_note(plan(True, [0]), None) == ""


def test_training_curves_follow_each_runs_final_model(tmp_path):
    import types

    def history(run_dir, role, columns, values):
        run_dir.mkdir(parents=True, exist_ok=True)
        lines = ["epoch," + ",".join(columns)]
        lines += [f"{epoch}," + ",".join(str(v) for v in row) for epoch, row in enumerate(values)]
        (run_dir / f"{role}_history.csv").write_text("\n".join(lines) + "\n")

    # Two WSKD seeds and a GSKD whose final model is its second stage (its first stage's history is ignored);
    # NOKD's student logged no KD term, and a resumed epoch is written twice and counts once.
    history(tmp_path / "wskd0", "student", ["accuracy", "step2_examples"], [(0.5, 40), (0.7, 30)])
    history(tmp_path / "wskd1", "student", ["accuracy", "step2_examples"], [(0.6, 44), (0.8, 36)])
    history(tmp_path / "gskd0", "stage1", ["accuracy"], [(0.1,), (0.2,)])
    history(
        tmp_path / "gskd0",
        "stage2",
        ["accuracy", "distillation_loss", "previous_distillation_loss"],
        [(0.9, 2.0, 1.0), (0.95, 1.5, 0.5)],
    )
    history(tmp_path / "nokd0", "student", ["accuracy", "distillation_loss"], [(0.4, "NA"), (0.45, "NA"), (0.5, "NA")])
    (tmp_path / "nokd0" / "student_history.csv").write_text(
        (tmp_path / "nokd0" / "student_history.csv").read_text().replace("1,0.45,NA", "1,0.3,NA\n1,0.45,NA")
    )
    rows = [
        {"method": "wskd", "seed": 0, "run_dir": str(tmp_path / "wskd0"), "final_role": "student"},
        {"method": "wskd", "seed": 1, "run_dir": str(tmp_path / "wskd1"), "final_role": "student"},
        {"method": "gskd", "seed": 0, "run_dir": str(tmp_path / "gskd0"), "final_role": "stage2"},
        {"method": "nokd", "seed": 0, "run_dir": str(tmp_path / "nokd0"), "final_role": "student"},
    ]
    curves = collect.training_curves(rows)
    assert curves["wskd"] == {"accuracy": {0: [0.5, 0.7], 1: [0.6, 0.8]}, "step2_examples": {0: [40, 30], 1: [44, 36]}}
    assert curves["gskd"] == {
        "accuracy": {0: [0.9, 0.95]},
        "distillation_loss": {0: [2.0, 1.5]},
        "previous_distillation_loss": {0: [1.0, 0.5]},
    }
    assert curves["nokd"] == {"accuracy": {0: [0.4, 0.45, 0.5]}}

    # A variant with the same teacher errors on seed 0 shares wskd's line; one without step 2 draws none.
    curves["wskd_batch"] = {"step2_examples": {0: [40, 30]}}
    curves["wskd_no_step2"] = {"step2_examples": {0: [0, 0]}}
    methods = ["nokd", "wskd", "gskd", "wskd_batch", "wskd_no_step2"]
    assert plots.step2_lines(methods, curves) == [
        (["wskd", "wskd_batch"], 0, [40, 30]),
        (["wskd"], 1, [44, 36]),
    ]

    plan = types.SimpleNamespace(all_methods=methods, recipe=types.SimpleNamespace(dataset="x"))
    assert plots.plot_curves(str(tmp_path / "curves.png"), plan, curves)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plots.plot_curves(str(tmp_path / "none.png"), plan, {})
    assert not (tmp_path / "none.png").exists()


def row(method, seed, arch, accuracy, blkd_models=(), label_models=()):
    """A results row of `collect` with what the size comparisons read."""
    return {
        "method": method,
        "seed": seed,
        "student_arch": arch,
        "student_accuracy": accuracy,
        "blkd_models": [{"arch": a, "accuracy": acc, "role": role} for a, acc, role in blkd_models],
        "label_models": [{"arch": a, "accuracy": acc, "epochs": e, "where": w} for a, acc, e, w in label_models],
    }


def test_a_larger_final_model_is_compared_with_blkd_at_its_size():
    import types

    rows = [
        row("blkd", 0, "resnet8", 0.80, blkd_models=[("resnet8", 0.80, "student")]),
        row("blkd", 1, "resnet8", 0.82, blkd_models=[("resnet8", 0.82, "student")]),
        row("takd", 0, "resnet8", 0.81, blkd_models=[("resnet14", 0.86, "assistant1")]),
        row("takd", 1, "resnet8", 0.80, blkd_models=[("resnet14", 0.84, "assistant1")]),
        row("gskd", 0, "resnet14", 0.85),
        row("gskd", 1, "resnet14", 0.85),
        row("gskd", 2, "resnet14", 0.90),  # no BLKD ResNet14 on seed 2: not paired
        row("wskd", 0, "resnet8", 0.70),  # BLKD's size: compared in the main table only
        row("gskd_grow", 0, "resnet26", 0.86),
    ]
    assert collect.blkd_models_by_size(rows)[(0, "resnet14")] == (0.86, "takd assistant1")
    plan = types.SimpleNamespace(
        all_methods=["blkd", "takd", "wskd", "gskd", "gskd_grow"],
        recipe=types.SimpleNamespace(epochs=20),
        baseline="blkd",
    )
    lines = report.same_size_lines(plan, rows)
    differences = [0.85 - 0.86, 0.85 - 0.84]
    half = 12.706 * statistics.stdev(differences) / 2**0.5  # t(0.975, 1 degree of freedom)
    gskd = next(line for line in lines if line.startswith("| gskd |"))
    assert gskd.startswith("| gskd | resnet14 | 85.00 ± 1.41 (takd assistant1) | 85.00 ± 0.00 | ")
    assert gskd.endswith(f" | {100 * statistics.fmean(differences):+.2f} ± {100 * half:.2f} (n=2) |")
    assert "| gskd_grow | resnet26 | no model of this size" in "\n".join(lines)
    assert not any(line.startswith(("| wskd |", "| takd |", "| blkd |")) for line in lines)
    assert report.same_size_lines(plan, [r for r in rows if r["method"] != "gskd" and r["method"] != "gskd_grow"]) == []


def test_seeds_are_a_count_or_a_list():
    assert study_plan.parse_seeds("3", 0) == [0, 1, 2]
    assert study_plan.parse_seeds("2", 5) == [5, 6]
    assert study_plan.parse_seeds("4,7", 0) == [4, 7]
    for bad in ("0", "a", "1,1", ""):
        with pytest.raises(UsageError):
            study_plan.parse_seeds(bad, 0)


@pytest.mark.parametrize("args", [[], ["missing.flags"], ["configs/compare/mnist_sample_study.flags", "missing.flags"]])
def test_the_background_study_script_refuses_bad_arguments_in_one_line(args):
    result = subprocess.run(["bash", "tools/run_study.sh", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "usage: tools/run_study.sh COMPARE_FLAGFILE [TEACHER_FLAGFILE] (existing flagfiles)"
    ]


def test_a_larger_final_model_is_compared_with_its_network_trained_on_labels():
    import types

    # De-KD's teacher, stopped after 2 epochs, is the same network on labels, but never a reference, even on a
    # seed (2) with nothing else; a 30-epoch one gives way to one of the methods' 20.
    rows = [
        row("blkd", 0, "resnet8", 0.80),
        row("blkd", 1, "resnet8", 0.82),
        row("dekd", 0, "resnet8", 0.70, label_models=[("resnet26", 0.40, 2, "dekd teacher")]),
        row("dekd", 2, "resnet8", 0.70, label_models=[("resnet26", 0.40, 2, "dekd teacher")]),
        row(
            "nokd", 2, "resnet8", 0.79, label_models=[("resnet8", 0.79, 20, "nokd student"), ("resnet8", 0.81, 30, "x")]
        ),
        row("rekd", 2, "resnet26", 0.80),
        row("rekd", 0, "resnet26", 0.84, label_models=[("resnet8", 0.79, 20, "rekd teacher")]),
        row("rekd", 1, "resnet26", 0.83),
        row("gskd", 0, "resnet14", 0.85),
    ]
    outside = {"arch": "resnet26", "accuracy": 0.86, "epochs": 20, "trained_by": "labels", "flags": {"seed": 0}}
    found = collect.label_models_by_size(rows, 20, {}, outside)
    assert found[(0, "resnet26")] == (0.86, "shared teacher (`--teacher_checkpoint`), 20 epochs")
    assert found[(0, "resnet8")] == (0.79, "rekd teacher, 20 epochs") and (1, "resnet26") not in found
    assert (2, "resnet26") not in found and found[(2, "resnet8")] == (0.79, "nokd student, 20 epochs")
    distilled = {**outside, "trained_by": "Distiller"}  # a checkpoint that was itself distilled is no reference
    assert (0, "resnet26") not in collect.label_models_by_size(rows, 20, {}, distilled)

    teachers = {1: {"payload": {"models": [{"role": "student", "arch": "resnet26", "test_accuracy": 0.85,
                                            "trained_by": "labels", "epochs": 20}]}}}  # fmt: skip
    plan = types.SimpleNamespace(
        all_methods=["blkd", "dekd", "rekd", "gskd"], recipe=types.SimpleNamespace(epochs=20), baseline="blkd"
    )
    lines = report.same_size_lines(plan, rows, teachers, outside)
    text = "\n".join(lines)
    assert "## Against the same network trained on labels alone" in text
    differences = [0.84 - 0.86, 0.83 - 0.85]
    rekd = next(line for line in lines if line.startswith("| rekd |") and "shared teacher" in line)
    assert "(shared teacher (`--teacher_checkpoint`), 20 epochs; shared teacher, 20 epochs)" in rekd
    assert rekd.endswith(f" | {100 * statistics.fmean(differences):+.2f} ± 0.00 (n=2) |")
    assert "| gskd | resnet14 | no model of this size trained on labels alone for as many epochs |" in text
    no_reference = [r for r in rows if r["method"] != "rekd"]
    assert "Against the same network" not in "\n".join(report.same_size_lines(plan, no_reference))
