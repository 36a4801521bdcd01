"""A setting as a dataclass field: its default, help, valid values, search range and part in a model's key.

`kdkeras.config.TrainConfig` and every method unit's settings
(`kdkeras.methods`) declare their fields with `setting(...)`; the flags,
their validation, keras-tuner's search space and the model store's key are
all read from this metadata, so each fact about a setting is written once.
"""

import dataclasses
from typing import Callable, Optional, Tuple

__all__ = ["setting", "Tune", "valid_range", "tune_range"]


@dataclasses.dataclass(frozen=True)
class Tune:
    """The range a hyper-parameter search gives a setting.

    Args:
        low, high, sampling: a float range (`"linear"` or `"log"`).
        choices: the values of a choice; `None` with no `low` when they
            depend on the run (TAKD's assistant chains).
        only_if: `(setting, value)`: the setting acts only when another has
            that value (WSKD's margin only with the `lift` correction).
        candidates: `candidates(config, info, given) -> [choice]` for choices
            that depend on the run (TAKD's assistant chains), `given` the
            search's own list.
    """

    low: Optional[float] = None
    high: Optional[float] = None
    sampling: str = "linear"
    choices: Optional[Tuple] = None
    only_if: Optional[Tuple[str, object]] = None
    candidates: Optional[Callable] = None

    @property
    def is_choice(self):
        return self.low is None


def setting(default, help, valid=None, tune=None, semantic=True, model_key=None, architectures=False):
    """A dataclass field for a setting.

    Args:
        default: its default value.
        help: one line for the flag's help.
        valid: a `kdkeras.ranges.Range` of the values it takes, checked where
            the value is used and, worded with the flag, when a command starts.
        tune: its `Tune` range, if a search may vary it.
        semantic: whether it changes what is trained (a run directory holds
            one set of the semantic settings).
        model_key: `"data"` or `"recipe"` for the settings that determine
            every model a run trains: a model's key in the model store is
            derived from exactly those.
        architectures: whether the value is a list of architecture names
            (checked against the model registry when a command starts).
    """
    metadata = {
        "help": help,
        "semantic": semantic,
        "model_key": model_key,
        "valid": valid,
        "tune": tune,
        "architectures": architectures,
    }
    return dataclasses.field(default=default, metadata=metadata)


def valid_range(field):
    """The field's `Range`, or None."""
    return field.metadata.get("valid")


def tune_range(field):
    """The field's `Tune`, or None."""
    return field.metadata.get("tune")
