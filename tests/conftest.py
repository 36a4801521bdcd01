import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "datasets")

# Small enough to train in seconds on 2 CPU cores.
FAST_FLAGS = [
    "--dataset=mnist_sample",
    "--teacher=plain2",
    "--student=plain2",
    "--epochs=1",
    "--teacher_epochs=1",
    "--batch_size=256",
    "--optimizer=adam",
    "--learning_rate=0.01",
    "--verbose=0",
]


def run_python(*args, cwd=ROOT, timeout=600):
    """Runs `python args` (a script, `-c CODE` or `-m MODULE` and its arguments) in a fresh process, with the
    project importable and TensorFlow's start-up logging quiet; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_module(module, *args, timeout=600):
    """Runs `python -m module args` from the project root; returns the CompletedProcess."""
    return run_python("-m", module, *args, timeout=timeout)


@pytest.fixture
def fast_flags():
    return list(FAST_FLAGS)
