"""The published studies keep what their reports are written from: every finished run listed in a study's
results.csv has its records committed in the study's records/ folder (so `tools/compare.py --report_only` in a
clone rewrites the same report), and nothing in results/ is kept out of git by an ignore rule."""

import csv
import glob
import os
import subprocess

import pytest

from tests.conftest import ROOT

STUDIES = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, "results", "*", "records")))


@pytest.mark.parametrize("study", [os.path.relpath(s, ROOT) for s in STUDIES])
def test_every_finished_run_has_its_records(study):
    with open(os.path.join(ROOT, study, "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    missing = [
        f"{row['method']} seed {row['seed']}"
        for row in rows
        if not os.path.isfile(os.path.join(ROOT, study, "records", row["method"], f"seed{row['seed']}", "results.json"))
    ]
    assert not missing, f"{study}: finished runs without records: {missing}"


def test_no_file_in_results_is_ignored_by_git():
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "results"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    ignored = [line[3:] for line in ignored if line.startswith("!! ") and "/.tmp-" not in line]
    assert not ignored, f"ignored by .gitignore, so never committed: {ignored}"
