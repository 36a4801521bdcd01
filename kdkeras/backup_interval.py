"""`--backup_every` read as a kind and an amount, apart from the backups that use it (no TensorFlow)."""

import re

from kdkeras.errors import UsageError

__all__ = ["parse_interval", "DEFAULT_INTERVAL"]

DEFAULT_INTERVAL = "5m"


def parse_interval(text):
    """`--backup_every` as `(kind, amount)`: `("seconds", 300.0)` for `5m` or `90s`,
    `("batches", 200)` for `200`, `("epoch", 1)` for `epoch`."""
    text = str(text).strip().lower()
    if text == "epoch":
        return "epoch", 1
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|s)?", text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(
            f"--backup_every={text}: expected minutes (5m), seconds (90s), a number of batches (200) or epoch"
        )
    amount, unit = float(match.group(1)), match.group(2)
    if unit is None:
        if amount != int(amount):
            raise UsageError(f"--backup_every={text}: a number of batches is a whole number")
        return "batches", int(amount)
    return "seconds", amount * 60 if unit in ("m", "min") else amount
