"""The errors kdkeras raises on purpose, apart from any command that reports them.

A library function raises these with a message in its own words (what was
wrong with which value); a command (`kdkeras.cli.run`) prints the message as
one line and exits with status 2 (`UsageError`) or 1 (`TrainingError`).
"""

__all__ = ["UsageError", "DatasetError", "TrainingError", "DivergenceError", "check"]


class UsageError(ValueError):
    """Bad input from the user: a value, a file or a combination of them."""


class DatasetError(UsageError):
    """A dataset name, folder or file that cannot be used; the message says why."""


class TrainingError(RuntimeError):
    """A run that cannot go on (a diverged loss); the message says why and what was kept."""


class DivergenceError(TrainingError):
    """Training produced a NaN or infinite loss."""


def check(condition, message):
    """Raises `UsageError(message)` unless `condition`."""
    if not condition:
        raise UsageError(message)
