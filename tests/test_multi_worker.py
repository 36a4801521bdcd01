"""A real two-process MultiWorkerMirroredStrategy run of the training CLI on loopback."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import FAST_FLAGS, ROOT


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # a minute of end-to-end training: in `pytest -m slow`
def test_two_workers_train_blkd_and_only_the_chief_writes_results(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONPATH=ROOT,
            TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
        )
        args = [
            sys.executable,
            "-m",
            "kdkeras.train",
            "--method=blkd",
            "--strategy=multi_worker",
            f"--output_dir={tmp_path / f'worker{index}'}",
            *FAST_FLAGS,
        ]
        processes.append(
            subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    results = json.loads((tmp_path / "worker0" / "results.json").read_text())
    assert results["flags"]["strategy"] == "multi_worker"
    assert [m["role"] for m in results["models"]] == ["teacher", "student"]
    assert results["student"]["test_accuracy"] > 0.15
    assert (tmp_path / "worker0" / "student.keras").exists()
    assert not (tmp_path / "worker1" / "results.json").exists()
    assert not (tmp_path / "worker1" / "student.keras").exists()
