"""The method units together: unique flags, knobs with ranges, and TrainConfig derived from them."""

import dataclasses

import pytest

from kdkeras import config, methods
from kdkeras.errors import UsageError
from kdkeras.settings import tune_range, valid_range


def test_every_setting_is_one_flag_of_train_config():
    fields = {f.name: f for f in dataclasses.fields(config.TrainConfig)}
    for field in methods.setting_fields():
        assert field.name in fields
        assert fields[field.name].default == field.default
        assert fields[field.name].metadata["help"] == field.metadata["help"]


@pytest.mark.parametrize("name", methods.names())
def test_a_units_knobs_have_search_ranges_and_its_defaults_are_valid(name):
    unit = methods.get(name)
    by_name = {f.name: f for f in methods.setting_fields()}
    for knob in unit.knobs:
        assert tune_range(by_name[knob]) is not None, knob
    for setting in unit.setting_names:
        field = by_name[setting]
        if valid_range(field) is not None and field.default is not None:
            assert valid_range(field).contains(field.default), setting


def test_unknown_method_names_the_choices():
    with pytest.raises(UsageError, match="expected one of nokd, blkd"):
        methods.get("nope")


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(alpha=1.5), "--alpha=1.5: expected a value in [0, 1]"),
        (
            dict(method="wskd", wskd_step2_forward="some"),
            "--wskd_step2_forward=some: expected one of misclassified, misclassified_step1_statistics, "
            "misclassified_own_statistics, batch",
        ),
        (dict(method="tfkd_reg", tfkd_correct_prob=0.5), "--tfkd_correct_prob=0.5: expected a value in [0.9, 1)"),
        (dict(method="takd"), "--assistants: takd needs at least one assistant"),
        (dict(method="nokd", logit_standardization=True), "--logit_standardization: nokd matches no teacher's logits"),
        (dict(loss_weight=0.0), "--loss_weight=0.0: expected a value > 0"),
        (dict(method="dkd", loss_weight=10.0), "--loss_weight=10.0: dkd has no (1 - alpha) CE + alpha KD loss"),
    ],
)
def test_validation_words_each_declared_range_with_its_flag(changes, words):
    with pytest.raises(UsageError) as raised:
        config.TrainConfig(**changes).validate()
    assert str(raised.value).startswith(words)


def test_study_flags_come_from_the_units():
    flag = methods.study_flags()["dekd_teacher_epochs"]
    assert flag.replaces == "teacher_epochs" and flag.default == 0


@pytest.mark.parametrize("name", methods.names())
def test_a_methods_unread_settings_are_every_method_setting_it_does_not_read(name):
    unread = set(methods.unread_settings(name))
    read = set(methods.get(name).setting_names)
    assert not unread & read
    assert unread | read == {f.name for f in methods.setting_fields()}
    assert ("dkd_beta" in unread) == (name != "dkd")
