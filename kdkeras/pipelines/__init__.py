"""Pipelines that train several models in turn: the `Run` every method unit's pipeline drives."""

from kdkeras.methods import names
from kdkeras.pipelines.records import accuracy
from kdkeras.pipelines.run import Run

METHODS = names()

__all__ = ["METHODS", "Run", "accuracy"]
