"""An int8 student in TensorFlow Lite Micro: LiteRT's predictions, TFLM's arena, and the errors."""

import os
import subprocess
import sys

import pytest

from edge import benchmark_tflite, tflm_footprint
from kdkeras.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_BATCHES = 2  # 256 images: TFLM's reference kernels take ~15 ms per ResNet-8 image here


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "edge.benchmark", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _one_error_line(result):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_int8_student_runs_in_tflm_as_in_litert(exported, splits):
    facts = exported("int8")
    test = splits.test.take(TEST_BATCHES)
    result = benchmark_tflite(
        facts["path"], test, runs=5, warmup=1, runtime="tflm", mcu_ram_bytes=1000, mcu_flash_bytes=10**7
    )
    tflm = result["tflm"]
    assert tflm["num_test"] == result["num_test"] == TEST_BATCHES * 128
    assert tflm["agreement"] >= 0.99
    assert abs(tflm["accuracy"] - result["accuracy"]) <= 1 - tflm["agreement"] + 1e-9
    assert 0 < tflm["arena_bytes"] < tflm["arena_tried_bytes"]
    assert tflm["flash_bytes"] == os.path.getsize(facts["path"]) == facts["size_bytes"]
    assert tflm["latency_ms"]["median"] > 0
    budget = result["mcu"]
    assert (budget["arena_bytes"], budget["flash_bytes"]) == (tflm["arena_bytes"], tflm["flash_bytes"])
    assert (budget["fits_ram"], budget["fits_flash"], budget["fits"]) == (False, True, False)


def test_the_arena_figure_is_enough_and_less_is_refused(exported):
    path = exported("int8")["path"]
    needed = tflm_footprint(path)["arena_bytes"]
    exact = tflm_footprint(path, arena_bytes=needed)
    assert exact["arena_bytes"] == needed and exact["arena_tried_bytes"] == needed
    with pytest.raises(UsageError, match=f"--arena_bytes={needed // 2}: too small; TFLite Micro needs {needed} bytes"):
        tflm_footprint(path, arena_bytes=needed // 2)
    with pytest.raises(UsageError, match=f"--arena_bytes=100: too small; TFLite Micro needs {needed} bytes"):
        tflm_footprint(path, arena_bytes=100)  # TFLM itself would crash on so small an arena


def test_an_operator_tflm_lacks_is_named(sign_tflite):
    with pytest.raises(UsageError, match="no kernel for operator SIGN"):
        tflm_footprint(sign_tflite)


def test_cli_names_the_missing_operator(sign_tflite):
    line = _one_error_line(_run(f"--model={sign_tflite}", "--dataset=mnist_sample", "--runtime=tflm", "--runs=1"))
    assert f"--model={sign_tflite}" in line and "operator SIGN" in line


def test_cli_names_the_arena_needed(exported):
    path = exported("int8")["path"]
    needed = tflm_footprint(path)["arena_bytes"]
    line = _one_error_line(
        _run(f"--model={path}", "--dataset=mnist_sample", "--runtime=tflm", "--arena_bytes=4096", "--runs=1")
    )
    assert "--arena_bytes=4096" in line and f"needs {needed} bytes" in line


def test_budgets_need_the_tflm_runtime(exported, splits):
    with pytest.raises(UsageError, match="--runtime=tflm"):
        benchmark_tflite(exported("int8")["path"], splits.test.take(1), mcu_ram_bytes=1000)


def test_train_export_records_tflm_figures_and_budget(keras_model, splits, tmp_path, capsys):
    from types import SimpleNamespace

    from kdkeras.config import TrainConfig
    from kdkeras.experiment import export_student

    config = TrainConfig(
        output_dir=str(tmp_path),
        export=("int8",),
        edge_runtime=("litert", "tflm"),
        mcu_ram_bytes=256 * 1024,
        mcu_flash_bytes=1000,
    ).validate()
    edge = export_student(config, keras_model, SimpleNamespace(train=splits.train, test=splits.test.take(1)))
    int8 = edge["int8"]
    assert int8["tflm"]["agreement"] >= 0.99 and int8["tflm"]["flash_bytes"] == int8["size_bytes"]
    assert (int8["mcu"]["fits_ram"], int8["mcu"]["fits_flash"], int8["mcu"]["fits"]) == (True, False, False)
    printed = capsys.readouterr().out
    assert "TFLite Micro accuracy" in printed and "the int8 student does NOT fit" in printed
