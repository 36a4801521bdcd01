"""The study's runner: what it trains and what it skips, with training stubbed out."""

import json
import os

import pytest

from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError
from kdkeras.study import run as study_run


class _Plan:
    """A plan of two runs (the shared teacher and BLKD, seed 0) in `tmp_path`."""

    edge = "off"

    def __init__(self, root):
        self.output_dir = os.path.join(root, "runs")
        self.report_dir = os.path.join(root, "results")

    def records_dir(self, name, seed):
        return os.path.join(self.report_dir, "records", name or "teacher", f"seed{seed}")

    def runs(self):
        def config(name, method):
            return TrainConfig(method=method, output_dir=os.path.join(self.output_dir, name, "seed0"))

        return [
            ("shared teacher seed 0", None, 0, config("teacher", "nokd")),
            ("blkd seed 0", "blkd", 0, config("blkd", "blkd")),
        ]

    runs_to_train = runs


def _write_results(directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump({"method": "x"}, f)


def test_a_run_whose_records_are_kept_is_not_trained_again_but_a_shared_teacher_is(tmp_path, monkeypatch, capsys):
    plan = _Plan(str(tmp_path))
    for name in ("teacher", "blkd"):  # both kept beside the report by an earlier session; the runs folder is gone
        _write_results(plan.records_dir(None if name == "teacher" else name, 0))
    trained = []
    monkeypatch.setattr(study_run, "publish", lambda plan: "results.md")
    monkeypatch.setattr(study_run.experiment, "train", lambda config: trained.append(config.output_dir))
    monkeypatch.setattr(study_run, "_clear_session", lambda: None)

    assert study_run.run_all(plan) == []
    # The teacher's model is what the students need, and records hold none: it trains again. BLKD does not.
    assert trained == [os.path.join(plan.output_dir, "teacher", "seed0")]
    assert "blkd seed 0: finished in an earlier session" in capsys.readouterr().out


def test_a_finished_run_recorded_with_other_settings_is_refused_not_skipped(tmp_path, monkeypatch):
    """Skipped as finished, it would stand in the report for another run; another method's setting is no matter."""
    plan = _Plan(str(tmp_path))
    kept = plan.records_dir("blkd", 0)
    _write_results(kept)
    recorded = TrainConfig(method="blkd", output_dir="elsewhere", dkd_beta=3.0).semantic_dict()  # DKD's, not BLKD's
    with open(os.path.join(kept, "run.json"), "w") as f:
        json.dump(recorded, f)
    monkeypatch.setattr(study_run, "publish", lambda plan: "results.md")
    monkeypatch.setattr(study_run.experiment, "train", lambda config: None)
    monkeypatch.setattr(study_run, "_clear_session", lambda: None)
    assert study_run.run_all(plan) == []

    with open(os.path.join(kept, "run.json"), "w") as f:
        json.dump(dict(recorded, temperature=2.0, loss_weight=10.0), f)
    with pytest.raises(UsageError) as refused:
        study_run.run_all(plan)
    assert str(refused.value) == (
        f"{kept}: blkd seed 0 was trained with other settings (--temperature, --loss_weight differ) than the "
        "flagfile gives it; move the folder to the name of what it is, or restore the flagfile"
    )
