"""`tools/mlperf_reference.py`: the students' table and paired test on synthetic figures, and bad input (the
benchmarks themselves are `edge.benchmark`'s, tested in edge/)."""

import json
import os

import pytest

from tests.conftest import ROOT, run_python

TOOL = os.path.join(ROOT, "tools", "mlperf_reference.py")
SNIPPET = """
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("mlperf_reference", sys.argv[1])
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
labels = np.array([0, 1, 2, 3])
onehot = lambda classes: np.eye(4)[classes]
paired = tool.paired_with_reference(onehot([0, 1, 2, 0]), onehot([0, 1, 0, 0]), labels)
figures = lambda accuracy, micro: {"accuracy": accuracy, "quantization": "int8", "size_bytes": 98496,
                                   "tflm": {"accuracy": micro, "arena_bytes": 55984}}
result = {
    "files": {"int8": {"file": "ref.tflite", "test_sets": {"lossless_1000": figures(0.878, 0.88),
                                                          "jpeg_10000": figures(0.7543, 0.7548)}}},
    "students": {"blkd": {"test_sets": {"lossless_1000": figures(0.9, 0.901)},
                          "paired_with_reference_int8": {"litert": paired}}},
}
timed = json.loads(json.dumps(result))
timed["files"]["int8"]["test_sets"]["lossless_1000"]["latency_ms"] = {"median": 0.0921, "p90": 0.0964}
timed["files"]["int8"]["test_sets"]["lossless_1000"]["tflm"]["latency_ms"] = {"median": 10.4114, "p90": 10.9571}
timed["students"]["blkd"]["test_sets"]["lossless_1000"]["latency_ms"] = {"median": 0.078, "p90": 0.079}
print(json.dumps({"paired": paired, "table": tool.results_table(result), "timed": tool.results_table(timed)}))
"""


@pytest.fixture(scope="module")
def out():
    done = run_python("-c", SNIPPET, TOOL)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_students_are_paired_with_the_reference_and_tabulated(out):
    paired = out["paired"]
    # Student right on images 0, 1, 2; reference on 0, 1: one discordant image, the student's.
    assert (paired["accuracy_a"], paired["accuracy_b"], paired["difference"]) == (0.75, 0.5, 0.25)
    assert (paired["a_right_b_wrong"], paired["a_wrong_b_right"], paired["mcnemar_p"]) == (1, 0, 1.0)
    table = out["table"]
    assert "| reference `ref.tflite` | int8 | 87.80% / 88.00% | 75.43% / 75.48% | 98,496 | 55,984 |" in table
    assert "| student `blkd` | int8 | 90.00% / 90.10% | not measured | 98,496 | 55,984 |" in table
    assert "| blkd | litert | 75.00% | 50.00% | +25.00 [" in table and "| 1 | 0 | 1.0000 |" in table
    assert "Latency" not in table


def test_latencies_are_tabulated_when_timed(out):
    timed = out["timed"]
    assert "| reference `ref.tflite` | 98,496 | 0.092 / 0.096 ms | 10.411 / 10.957 ms |" in timed
    assert "| student `blkd` | 98,496 | 0.078 / 0.079 ms | not timed |" in timed


def test_a_missing_student_file_is_one_line_naming_the_flag(tmp_path):
    done = run_python(TOOL, f"--output={tmp_path}/s.json", f"--students=blkd={tmp_path}/none.tflite")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(f"--students=blkd={tmp_path}/none.tflite: no file {tmp_path}/none.tflite")
    )
