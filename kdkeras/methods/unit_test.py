"""A `Method` checks itself when declared and derives what a study and a search need from its declaration."""

import dataclasses

import pytest

from kdkeras.methods.unit import LOGIT_MATCHING, Method, StudyRole
from kdkeras.settings import Tune, setting


def _pipeline(run):
    """Trains nothing: a pipeline for tests.

    More words that the summary leaves out.
    """
    return {"teacher": None, "student": "student"}


@dataclasses.dataclass
class _Settings:
    toy_gamma: float = setting(0.5, "toy: a weight", tune=Tune(0.0, 1.0))


def test_a_unit_derives_its_summary_settings_and_study_role():
    unit = Method("toy", _pipeline, teacher="trained", settings=_Settings, uses=LOGIT_MATCHING, knobs=("toy_gamma",))
    assert unit.summary == "Trains nothing: a pipeline for tests."
    assert unit.own_settings == ("toy_gamma",)
    assert unit.setting_names == LOGIT_MATCHING + ("toy_gamma",)
    assert unit.study.shares_teacher and unit.learns_from_trained_teacher and unit.takes_teacher_checkpoint
    assert unit.study.compared_with == "blkd"


@pytest.mark.parametrize(
    "teacher, shares, takes_checkpoint",
    [("none", False, False), ("defective", False, True), ("student_copy", False, False), ("virtual", False, False)],
)
def test_only_a_trained_teacher_is_shared_by_a_study(teacher, shares, takes_checkpoint):
    unit = Method("toy", _pipeline, teacher=teacher, study=StudyRole(compared_with=None))
    assert unit.study.shares_teacher is shares
    assert unit.takes_teacher_checkpoint is takes_checkpoint


def test_a_knob_must_be_one_of_its_settings():
    with pytest.raises(ValueError, match="knobs"):
        Method("toy", _pipeline, teacher="trained", knobs=("temperature",))


def test_the_teacher_kind_is_checked():
    with pytest.raises(ValueError, match="teacher must be one of"):
        Method("toy", _pipeline, teacher="borrowed")
