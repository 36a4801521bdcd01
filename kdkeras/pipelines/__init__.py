"""Pipelines that train several models in turn: the `Run` every method unit's pipeline drives."""

from kdkeras.pipelines.records import accuracy
from kdkeras.pipelines.run import Run

__all__ = ["Run", "accuracy"]
