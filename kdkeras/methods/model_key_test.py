"""Every method setting reaches the key of the models it trains, so the model store never hands back a model
trained with other settings (the worst bug a study can have)."""

import dataclasses
from types import SimpleNamespace

import pytest

from kdkeras import config, methods, models
from kdkeras.pipelines.model_store import distiller_settings
from kdkeras.settings import valid_range

SHAPE, CLASSES = (16, 16, 3), 4


class _CapturingRun:
    """A `Run` that trains nothing: it records what each model's key would be made of."""

    def __init__(self, train_config):
        self.config = train_config
        self.steps_per_epoch = 10
        self.splits = SimpleNamespace(info=SimpleNamespace(input_shape=SHAPE, num_classes=CLASSES))
        self.keys = []

    def _model(self, arch):
        return models.get(arch, SHAPE, CLASSES)

    def teacher(self):
        return self._model(self.config.teacher)

    def train_plain(self, role, arch, epochs, stop_at_accuracy=None, loss_weight=1.0):
        self.keys.append((role, arch, epochs, stop_at_accuracy, loss_weight))
        return self._model(arch)

    def distill(self, role, arch, make_distiller, epochs, teachers=(), frozen=None):
        distiller = make_distiller(self._model(arch))
        self.keys.append((role, arch, epochs, type(distiller).__name__, distiller_settings(distiller)))
        return distiller.student


def _other_value(field, value):
    """A valid value of the setting other than `value`."""
    if isinstance(value, bool):
        return not value
    valid = valid_range(field)
    if valid is not None and hasattr(valid, "choices"):
        return next(c for c in valid.choices if c != value)
    if value is None:
        return 0.5
    high = getattr(valid, "high", float("inf"))
    candidates = [value * 0.5 + 0.05, (value + high) / 2, value * 1.5 + 0.1]
    return next(c for c in candidates if c != value and (valid is None or valid.contains(c)))


def _keys(method, **changes):
    base = dict(
        method=method, teacher="resnet20", student="resnet8", assistants=("resnet14",), stages=("resnet8", "resnet14")
    )
    run = _CapturingRun(dataclasses.replace(config.TrainConfig(**base), **changes))
    methods.get(method).pipeline(run)
    return run.keys


CASES = [
    (name, setting)
    for name in methods.names()
    for setting in methods.get(name).setting_names
    if setting not in ("assistants", "stages", "fitnets_student_layer", "fitnets_teacher_layer")
    and not (setting == "logit_standardization" and name == "tfkd_reg")
]


@pytest.mark.parametrize("method, setting", CASES)
def test_changing_a_method_setting_changes_the_key_of_what_it_trains(method, setting):
    field = {f.name: f for f in dataclasses.fields(config.TrainConfig)}[setting]
    default = field.default
    if method == "wskd" and setting == "wskd_margin":
        default = 1.0
    assert _keys(method) != _keys(method, **{setting: _other_value(field, default)}), setting
