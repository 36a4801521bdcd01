"""The valid values of a setting, declared once and checked where the value is used.

A range checks a value and raises `ValueError` in the words of the code that
uses it ("alpha must be in [0, 1], got 1.5"); a command that knows which
flag the value came from rewords the same check with the flag's name
(`Range.describe` gives "a value in [0, 1]"). Nothing here imports
TensorFlow, so configuration and the library share one definition.
"""

import dataclasses
import math
from typing import Optional, Tuple

__all__ = ["Range", "Interval", "OneOf", "PROBABILITY", "POSITIVE", "NON_NEGATIVE", "FRACTION_OPEN"]


class Range:
    """What a setting may take; subclasses say `contains` and `describe`."""

    def contains(self, value):
        raise NotImplementedError

    def describe(self):
        """The valid values in words, after "expected"."""
        raise NotImplementedError

    def check(self, name, value):
        """Raises `ValueError("{name} must be ..., got {value}")` unless `value` is valid."""
        if not self.contains(value):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return value


def _bound(value):
    return "inf" if value == math.inf else f"{value:g}"


@dataclasses.dataclass(frozen=True)
class Interval(Range):
    """Numbers from `low` to `high`, each end included or not; `integer` for whole numbers."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and value != int(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and not math.isnan(value)

    def describe(self):
        kind = "an integer" if self.integer else "a value"
        if self.high == math.inf:
            return f"{kind} {'>' if self.low_open else '>='} {_bound(self.low)}"
        if self.low == -math.inf:
            return f"{kind} {'<' if self.high_open else '<='} {_bound(self.high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{kind} in {left}{_bound(self.low)}, {_bound(self.high)}{right}"


@dataclasses.dataclass(frozen=True)
class OneOf(Range):
    """One of `choices`."""

    choices: Tuple = ()
    joiner: Optional[str] = None

    def contains(self, value):
        return value in self.choices

    def describe(self):
        if self.joiner:
            return self.joiner.join(str(c) for c in self.choices)
        return "one of " + ", ".join(str(c) for c in self.choices)


PROBABILITY = Interval(0.0, 1.0)
POSITIVE = Interval(0.0, low_open=True)
NON_NEGATIVE = Interval(0.0)
FRACTION_OPEN = Interval(0.0, 1.0, high_open=True)

# The recipe's choices, shared by the configuration and the code that uses them.
OPTIMIZERS = OneOf(("sgd", "adam"))
SCHEDULES = OneOf(("constant", "cosine", "step", "onecycle"))
WEIGHT_DECAY_MODES = OneOf(("decoupled", "l2"))

# The methods' own choices and ranges, shared by their units (kdkeras.methods) and their distillers.
TFKD_CORRECT_PROB = Interval(0.9, 1.0, high_open=True)
WSKD_CORRECTIONS = OneOf(("lift", "swap"))
TEACHER_CORRECTIONS = OneOf(("none", "lift", "swap"))
WSKD_STEP2_REDUCTIONS = OneOf(("misclassified", "batch"), joiner=" or ")
WSKD_STEP2_FORWARDS = OneOf(
    ("misclassified", "misclassified_step1_statistics", "misclassified_own_statistics", "batch")
)
WSKD_STEP2_REGULARIZATIONS = OneOf(("once", "twice"), joiner=" or ")
WHOLE_NON_NEGATIVE = Interval(0, integer=True)
