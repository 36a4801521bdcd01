import json

import pytest

from kdkeras.errors import UsageError
from kdkeras.experiment import trained_with


def test_a_run_names_the_commits_that_finished_its_models(tmp_path):
    records = [{"role": "teacher", "kdkeras_commit": "b2"}, {"role": "student", "kdkeras_commit": "a1"}]
    assert trained_with(records, str(tmp_path)) == "a1, b2"


def test_a_checkpoint_teacher_is_not_trained_by_the_run(tmp_path):
    records = [{"role": "teacher", "checkpoint": "/t.keras"}, {"role": "student", "kdkeras_commit": "a1"}]
    assert trained_with(records, str(tmp_path)) == "a1"


def test_records_from_before_they_named_a_commit_keep_the_earlier_results_json_commits(tmp_path):
    records = [{"role": "assistant1"}, {"role": "student", "kdkeras_commit": "c3"}]
    assert trained_with(records, str(tmp_path)) == "c3, not recorded"

    # Written and started again, and again: the list does not grow.
    for _ in range(3):
        named = trained_with(records, str(tmp_path))
        assert named == "c3, not recorded"
        (tmp_path / "results.json").write_text(json.dumps({"provenance": {"kdkeras_commit": named}}))
    (tmp_path / "results.json").write_text(json.dumps({"provenance": {"kdkeras_commit": "a1, b2"}}))
    assert trained_with(records, str(tmp_path)) == "a1, b2, c3"


def test_an_unreadable_earlier_results_json_is_named_not_a_traceback(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"results\.json: unreadable results"):
        trained_with([{"role": "student"}], str(tmp_path))
