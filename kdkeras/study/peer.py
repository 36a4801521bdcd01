"""The peer: the same study's figures from another implementation, read from the file its tool wrote.

`tools/torch_peer.py` (PyTorch, same networks, data and recipe) writes a JSON file of the form
`{"source", "command", "torch_version", "machine", "seeds": [0], "accuracy": {"teacher": 0.8635, "nokd": ...},
"train_seconds": {"teacher": ..., ...}}`; the study checks its means against `accuracy` and sets its
training seconds beside its own. A missing file means the peer was not run: the report says so.
"""

import json
import os

from kdkeras.errors import UsageError, check

__all__ = ["load"]


def load(path):
    """The peer file at `path` as a dict, or None when there is no file (the peer was not run)."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            peer = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"--peer={path}: not a readable JSON file ({error})") from None
    check(
        isinstance(peer, dict) and isinstance(peer.get("accuracy"), dict) and peer["accuracy"],
        f"--peer={path}: expected a JSON object with 'accuracy': {{name: fraction}}",
    )
    for name, value in peer["accuracy"].items():
        check(
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0,
            f"--peer={path}: accuracy of {name!r} is {value!r}; expected a fraction from 0 to 1",
        )
    seconds = peer.get("train_seconds") or {}
    check(isinstance(seconds, dict), f"--peer={path}: 'train_seconds' should be {{name: seconds}}")
    return peer
