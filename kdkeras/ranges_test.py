"""The ranges settings declare: what they hold, and the words a flag's error uses."""

import math

import pytest

from kdkeras import ranges


@pytest.mark.parametrize(
    "valid, inside, outside, words",
    [
        (ranges.PROBABILITY, [0.0, 0.5, 1.0], [-0.01, 1.01, math.nan, "0.5", True], "a value in [0, 1]"),
        (ranges.POSITIVE, [1e-9, 4.0, 1e9], [0.0, -1.0], "a value > 0"),
        (ranges.NON_NEGATIVE, [0.0, 5.0], [-1e-9], "a value >= 0"),
        (ranges.FRACTION_OPEN, [0.0, 0.99], [1.0, -0.1], "a value in [0, 1)"),
        (ranges.Interval(1, integer=True), [1, 20], [0, 1.5], "an integer >= 1"),
        (ranges.Interval(0.0, 1.0, low_open=True, high_open=True), [0.5], [0.0, 1.0], "a value in (0, 1)"),
        (ranges.OneOf(("lift", "swap")), ["lift", "swap"], ["Lift", ""], "one of lift, swap"),
        (ranges.OneOf(("once", "twice"), joiner=" or "), ["once"], ["thrice"], "once or twice"),
    ],
)
def test_a_range_holds_what_it_says_and_says_it(valid, inside, outside, words):
    assert all(valid.contains(v) for v in inside)
    assert not any(valid.contains(v) for v in outside)
    assert valid.describe() == words


def test_check_words_the_error_for_the_code_that_uses_the_value():
    assert ranges.PROBABILITY.check("alpha", 0.3) == 0.3
    with pytest.raises(ValueError, match=r"^alpha must be a value in \[0, 1\], got 1.5$"):
        ranges.PROBABILITY.check("alpha", 1.5)
