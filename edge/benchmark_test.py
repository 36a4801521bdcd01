"""The benchmark's figures and its command line."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_figures_are_present_and_sane(exported, splits):
    from edge import benchmark_tflite

    for mode in ("float32", "int8", "float16", "dynamic"):
        result = benchmark_tflite(exported(mode)["path"], splits.test, num_threads=1, runs=20, warmup=5)
        for key in ("accuracy", "size_bytes", "latency_ms", "num_threads", "quantization", "peak_memory_bytes"):
            assert key in result
        assert result["quantization"] == mode
        assert result["num_test"] == splits.info.num_test
        assert 0 < result["latency_ms"]["median"] <= result["latency_ms"]["p90"]
        assert result["size_bytes"] == exported(mode)["size_bytes"]
        assert result["peak_memory_bytes"] >= 0


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "edge.benchmark", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_writes_json_and_one_line(exported, keras_model_path, tmp_path):
    output = tmp_path / "result.json"
    result = _run(
        f"--model={exported('int8')['path']}",
        "--dataset=mnist_sample",
        "--num_threads=2",
        "--runs=20",
        f"--output={output}",
        f"--compare_keras={keras_model_path}",
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "int8" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["num_threads"] == 2 and figures["quantization"] == "int8"
    assert figures["latency_ms"]["median"] > 0 and figures["keras"]["latency_ms"]["median"] > 0
    assert 0 < figures["keras"]["accuracy"] <= 1


def test_cli_rejects_a_malformed_flag_in_one_line():
    result = _run("--model=student.tflite", "--runtime=foo")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--runtime=foo" in errors[0] and "litert" in errors[0]
    assert "Traceback" not in result.stderr and "FATAL" not in result.stderr
    assert "RuntimeWarning" not in result.stderr


def test_cli_rejects_a_file_that_is_not_tflite(keras_model_path):
    result = _run(f"--model={keras_model_path}", "--dataset=mnist_sample")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--model=" in errors[0] and "not a TFLite model" in errors[0]
