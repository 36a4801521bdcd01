import math
import statistics as stdlib

import numpy as np
import pytest

from kdkeras.study import statistics

# t(0.975) quantiles from a printed table, independent of scipy.
T_975 = {1: 12.706, 2: 4.303, 4: 2.776}


def test_mean_std_is_the_sample_std_and_skips_empty_values():
    mean, std = statistics.mean_std([0.8, "", 0.9, None, "0.7"])
    assert mean == pytest.approx(0.8)
    assert std == pytest.approx(np.std([0.8, 0.9, 0.7], ddof=1))
    assert statistics.mean_std([0.5]) == (0.5, 0.0)
    assert statistics.mean_std(["", None]) == (None, None)


@pytest.mark.parametrize("differences", [[0.01, 0.03], [0.01, -0.02, 0.04], [0.1, 0.2, 0.0, 0.05, 0.3]])
def test_the_half_width_is_a_t_interval_with_n_minus_1_degrees_of_freedom(differences):
    n = len(differences)
    expected = T_975[n - 1] * np.std(differences, ddof=1) / math.sqrt(n)
    assert statistics.t_half_width(differences) == pytest.approx(expected, rel=1e-3)


def test_differences_are_paired_by_seed_over_the_seeds_both_have():
    mine = {0: 0.80, 1: 0.82, 2: 0.90, 5: 0.5}
    theirs = {1: 0.81, 0: 0.78, 2: 0.85, 7: 0.1}
    mean, half, n = statistics.paired(mine, theirs)
    differences = [0.02, 0.01, 0.05]
    assert n == 3 and mean == pytest.approx(stdlib.fmean(differences))
    assert half == pytest.approx(T_975[2] * np.std(differences, ddof=1) / math.sqrt(3), rel=1e-3)
    assert statistics.paired({0: 0.8}, {0: 0.7}) == pytest.approx((0.1, None, 1))
    assert statistics.paired({0: 0.8}, {1: 0.7}) == (None, None, 0)


def test_paired_difference_reads_the_rows_of_two_methods():
    rows = [
        {"method": "wskd", "seed": 0, "student_accuracy": "0.70"},
        {"method": "wskd", "seed": 1, "student_accuracy": 0.72},
        {"method": "blkd", "seed": 0, "student_accuracy": 0.80},
        {"method": "blkd", "seed": 1, "student_accuracy": 0.81},
        {"method": "nokd", "seed": 0, "student_accuracy": 0.75},
    ]
    mean, half, n = statistics.paired_difference(rows, "wskd", "blkd")
    assert n == 2 and mean == pytest.approx(-0.095)
    assert half == pytest.approx(T_975[1] * np.std([-0.10, -0.09], ddof=1) / math.sqrt(2), rel=1e-3)
    assert statistics.paired_difference(rows, "wskd", reference="nokd") == pytest.approx((-0.05, None, 1))
