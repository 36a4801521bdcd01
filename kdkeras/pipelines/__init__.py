"""Pipelines that train several models in turn: one function per KD method."""

from kdkeras.pipelines.methods import METHODS
from kdkeras.pipelines.run import Run, accuracy
