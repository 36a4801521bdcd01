"""`python -m kdkeras.train` end to end, and every user error it must catch."""

import json

import keras
import pytest

from tests.conftest import run_module


@pytest.mark.slow  # an end-to-end training of over ten seconds: in `pytest -m slow`
def test_blkd_end_to_end_then_reuses_the_teacher(tmp_path, fast_flags):
    out = tmp_path / "run"
    first = run_module("kdkeras.train", "--method=blkd", f"--output_dir={out}", *fast_flags)
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "blkd" and results["dataset"] == "mnist_sample"
    for role in ("teacher", "student"):
        assert set(results[role]) >= {"arch", "params", "flops", "test_accuracy"}
        assert results[role]["params"] > 0 and results[role]["flops"] > 0
        assert 0.0 <= results[role]["test_accuracy"] <= 1.0
    assert results["student"]["test_accuracy"] > 0.15  # chance is 0.1; 2,000 test digits
    assert [m["role"] for m in results["models"]] == ["teacher", "student"]
    assert results["epochs"] == 1 and results["train_seconds"] > 0
    assert results["flags"]["alpha"] == 0.9
    for name in ("student.keras", "teacher.keras", "teacher_history.csv", "student_history.csv", "models.csv"):
        assert (out / name).exists(), name
    assert any((out / "logs" / "student").rglob("*tfevents*"))
    student = keras.models.load_model(out / "student.keras")
    assert student.output_shape == (None, 10)

    commit = results["provenance"]["kdkeras_commit"]
    assert [m["kdkeras_commit"] for m in results["models"]] == [commit, commit]
    assert results["provenance"]["written_by_commit"] == commit

    # Started again, a finished run rewrites results.json and keeps naming the code that trained its models:
    # the commit in each model's record, or the earlier results.json's for a record from before records had one.
    teacher_record = json.loads((out / "teacher.json").read_text())
    (out / "teacher.json").write_text(json.dumps({**teacher_record, "kdkeras_commit": "0ld7eac"}))
    student_record = json.loads((out / "student.json").read_text())
    del student_record["kdkeras_commit"]
    (out / "student.json").write_text(json.dumps(student_record))
    (out / "results.json").write_text(json.dumps({**results, "provenance": {"kdkeras_commit": "0ld57ud"}}))
    again = run_module("kdkeras.train", "--method=blkd", f"--output_dir={out}", *fast_flags)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "teacher: finished earlier" in again.stdout and "student: finished earlier" in again.stdout
    rewritten = json.loads((out / "results.json").read_text())["provenance"]
    assert rewritten["kdkeras_commit"] == "0ld57ud, 0ld7eac"
    assert rewritten["written_by_commit"] == commit


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_nokd_goes_through_the_same_path(tmp_path, fast_flags):
    out = tmp_path / "nokd"
    result = run_module("kdkeras.train", "--method=nokd", f"--output_dir={out}", "--export=int8", *fast_flags)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["teacher"] is None and results["student"]["arch"] == "plain2"
    int8 = results["edge"]["int8"]
    assert int8["quantization"] == "int8" and int8["size_bytes"] == (out / "student_int8.tflite").stat().st_size
    assert int8["latency_ms"]["median"] > 0 and abs(int8["accuracy"] - results["student"]["test_accuracy"]) < 0.05


def save_model(path, input_shape, num_classes):
    from kdkeras import models

    models.get("plain2", input_shape, num_classes).save(path)
    return path


BAD_INPUTS = {
    "unknown method": (["--method=kd"], "--method"),
    "unknown architecture": (["--student=resnet9"], "--student"),
    "unknown dataset": (["--dataset=mnist_samples"], "--dataset"),
    "alpha out of range": (["--alpha=1.5"], "--alpha"),
    "temperature out of range": (["--temperature=0"], "--temperature"),
    "epochs not an integer": (["--epochs=abc"], "--epochs"),
    "unknown flag": (["--alpah=0.5"], "alpah"),
    "missing checkpoint": (["--teacher_checkpoint=/nonexistent/teacher.keras"], "--teacher_checkpoint"),
    "gskd stages shrinking": (["--method=gskd", "--stages=resnet14,resnet8"], "--stages"),
    "takd without assistants": (["--method=takd"], "--assistants"),
    "unknown export mode": (["--export=int9"], "--export"),
}


# One case runs as a real process (exit status, nothing but one line at the
# end of stderr); the others call the same entry point in this process.
IN_A_SUBPROCESS = {"unknown flag"}


def train_in_process(args, capsys):
    """Runs `kdkeras.train`'s entry point here; returns (exit code, stderr)."""
    from kdkeras import train as kdtrain

    kdtrain.FLAGS.unparse_flags()
    try:
        with pytest.raises(SystemExit) as exit:
            kdtrain.main(kdtrain.parse_flags(["kdkeras.train", *args]))
    finally:
        kdtrain.FLAGS.unparse_flags()
    return exit.value.code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(tmp_path, fast_flags, case, capsys):
    extra, named = BAD_INPUTS[case]
    args = [f"--output_dir={tmp_path / 'out'}", *fast_flags, *extra]
    if case in IN_A_SUBPROCESS:
        result = run_module("kdkeras.train", *args)
        code, stderr = result.returncode, result.stderr
    else:
        code, stderr = train_in_process(args, capsys)
    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and named in last
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize(
    "shape, classes, expected",
    [((28, 28, 1), 5, "5 outputs"), ((32, 32, 3), 10, "inputs of shape")],
)
def test_teacher_that_does_not_fit_the_data(tmp_path, fast_flags, shape, classes, expected, capsys):
    checkpoint = save_model(str(tmp_path / "teacher.keras"), shape, classes)
    code, stderr = train_in_process(
        [f"--output_dir={tmp_path / 'out'}", f"--teacher_checkpoint={checkpoint}", *fast_flags], capsys
    )
    assert code == 2 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "--teacher_checkpoint" in last and expected in last


def test_unreadable_checkpoint(tmp_path, fast_flags, capsys):
    checkpoint = tmp_path / "teacher.keras"
    checkpoint.write_bytes(b"not a zip file")
    code, stderr = train_in_process(
        [f"--output_dir={tmp_path / 'out'}", f"--teacher_checkpoint={checkpoint}", *fast_flags], capsys
    )
    assert code == 2 and "Traceback" not in stderr
    assert "not a readable .keras model" in stderr


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_other_settings_in_the_same_output_dir_are_refused(tmp_path, fast_flags):
    out = tmp_path / "run"
    first = run_module("kdkeras.train", "--method=nokd", f"--output_dir={out}", *fast_flags)
    assert first.returncode == 0, first.stderr[-2000:]
    before = (out / "results.json").read_bytes()
    second = run_module("kdkeras.train", "--method=nokd", f"--output_dir={out}", *fast_flags, "--seed=7")
    assert second.returncode == 2
    assert "--seed" in second.stderr.strip().splitlines()[-1]
    assert (out / "results.json").read_bytes() == before
