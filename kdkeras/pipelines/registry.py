"""The method registry's old home: every fact now lives in the method units of `kdkeras.methods`."""

from kdkeras.methods import TEACHER_KINDS, get, names, tune_ranges

__all__ = ["KNOBS", "get", "names", "TEACHER_KINDS"]

KNOBS = tune_ranges()
