"""The study's statistics: mean and spread over seeds, and differences paired by seed with a t-interval.

A method's accuracy is given as the mean ± the sample standard deviation over its seeds. A difference
between two methods is taken seed by seed (both trained on the same seed share their data order, crops and
initial draws), and its ± is the half-width of the two-sided 95% t-interval over the n per-seed differences,
with n - 1 degrees of freedom; with one seed there is no interval.
"""

import statistics

__all__ = ["CONFIDENCE", "mean_std", "paired", "paired_difference", "t_half_width"]

CONFIDENCE = 0.95


def numbers(values):
    """The values as floats, the empty ones (a column a run did not record) left out."""
    return [float(v) for v in values if v not in ("", None)]


def mean_std(values):
    """`(mean, sample std)` of the non-empty values (std 0 for one value), `(None, None)` for none."""
    values = numbers(values)
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def t_half_width(values, confidence=CONFIDENCE):
    """The half-width of the two-sided t-interval of the mean of `values` (n - 1 degrees of freedom)."""
    from scipy import stats

    n = len(values)
    return stats.t.ppf(0.5 + confidence / 2, n - 1) * statistics.stdev(values) / n**0.5


def paired(mine, theirs):
    """`(mean, half_width, n)` of `mine[seed] - theirs[seed]` over the seeds both have.

    `half_width` is None with one seed; `(None, None, 0)` when no seed is shared.
    """
    differences = [mine[s] - theirs[s] for s in sorted(mine) if s in theirs]
    if not differences:
        return None, None, 0
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, None, 1
    return mean, t_half_width(differences), len(differences)


def paired_difference(rows, name, reference):
    """`paired` of method `name`'s student accuracy minus method `reference`'s, from results rows."""
    mine = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == name}
    theirs = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == reference}
    return paired(mine, theirs)
