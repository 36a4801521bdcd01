"""A run directory holds one set of settings: refuse another, record ours."""

import json
import os

from kdkeras import io
from kdkeras.errors import UsageError

__all__ = ["check_settings"]


def check_settings(directory, settings, record="run.json", flag="--output_dir", what="run"):
    """Refuses `directory` if its `record` holds other `settings`; then records ours.

    A key the record lacks (a setting added since it was written) is taken
    as agreeing. `flag` names the directory and `what` its content in the
    message; differing settings are named in the order of `settings`.

    Raises:
        UsageError: the record is unreadable, or a setting differs (each one
            named as a flag).
    """
    path = os.path.join(directory, record)
    if os.path.exists(path):
        try:
            with open(path) as f:
                theirs = json.load(f)
        except (OSError, ValueError):
            raise UsageError(f"{path}: unreadable run record; remove it or choose another {flag}") from None
        differing = [k for k, v in settings.items() if theirs.get(k, v) != v]
        if differing:
            raise UsageError(
                f"{flag}={directory} holds a {what} with other settings "
                f"({', '.join('--' + k for k in differing)} differ); choose another {flag} or remove it"
            )
    os.makedirs(directory, exist_ok=True)
    io.write_json_atomic(path, settings)
