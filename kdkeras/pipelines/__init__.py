"""Pipelines that train several models in turn: one function per KD method, registered by name."""

from kdkeras.pipelines import methods, registry
from kdkeras.pipelines.run import Run, accuracy

METHODS = registry.names()

__all__ = ["METHODS", "Run", "accuracy", "methods", "registry"]
