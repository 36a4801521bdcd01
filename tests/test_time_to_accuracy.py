"""`python tools/time_to_accuracy.py`: synthetic run folders end to end (`kdkeras/study/time_to_accuracy_test.py`
tests the figures and the bad input)."""

import json

from tests.conftest import run_python


def make_run(folder, models, history):
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"method": "blkd", "models": models}))
    (folder / "student_history.csv").write_text("\n".join(history) + "\n")
    return folder


def test_the_tool_writes_the_table_json_and_plot_and_leaves_out_a_run_without_the_columns(tmp_path):
    teacher = {"role": "teacher", "arch": "plain4", "train_seconds": 100.0}
    final = {"role": "student", "arch": "plain2", "test_accuracy": 0.9, "epochs": 2, "train_seconds": 36.0}
    blkd = make_run(
        tmp_path / "blkd",
        [teacher, dict(final, cache_seconds=4.0)],
        ["epoch,test_accuracy,train_seconds", "0,0.8,15.0", "1,0.9,31.0"],
    )
    old = make_run(tmp_path / "old", [final], ["epoch,accuracy,loss", "0,0.5,1.0"])
    out = tmp_path / "out"
    args = [f"--runs=blkd={blkd},old={old}", "--target=0.85", f"--output_dir={out}"]
    result = run_python("tools/time_to_accuracy.py", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[time_to_accuracy] blkd: 85.00% at epoch 2, 31.0 s (135.0 s with its teacher)" in result.stdout
    assert f"[time_to_accuracy] old: {old}/student_history.csv has no test_accuracy" in result.stdout
    payload = json.loads((out / "time_to_accuracy.json").read_text())
    assert payload["command"] == "python tools/time_to_accuracy.py " + " ".join(args)
    (run,) = payload["runs"]
    assert (run["target_epoch"], run["target_seconds"], run["target_seconds_with_teacher"]) == (2, 31.0, 135.0)
    assert (run["train_seconds"], run["train_seconds_with_teacher"]) == (32.0, 136.0)
    assert payload["skipped"] == ["old"]
    assert (
        "| blkd | blkd | student (plain2) | 2 | 90.00 | 32.0 | 136.0 | 2 | 31.0 | 135.0 |"
        in (out / "time_to_accuracy.md").read_text()
    )
    assert (out / "time_to_accuracy.png").read_bytes()[:4] == b"\x89PNG"
