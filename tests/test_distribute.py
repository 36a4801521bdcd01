"""One replica and two replicas make the same updates for the same global batch."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# Float32 sums in a different order: differences of a few ulps per step.
TOLERANCE = 1e-5


def test_mirrored_strategy_matches_default_strategy():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distribute_equivalence.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == {"blkd", "wskd", "wskd_errors_on_one_replica", "gskd"}
    for method, facts in report.items():
        assert facts["replicas"] == 2
        assert facts["max_weight_difference"] < TOLERANCE, (method, facts)
    assert report["wskd"]["step2_examples"][0] == report["wskd"]["step2_examples"][1]
    assert report["wskd_errors_on_one_replica"]["step2_examples"] == [[4.0, 4.0], [4.0, 4.0]]
