"""Every KD method as a unit: one file each, registered here in the order help texts list them.

`kdkeras.methods.get(name)` is the `Method` of `--method=name`; the flags
of `kdkeras.train` (`kdkeras.config.TrainConfig`), their validation,
`kdkeras.tune`'s search space and `kdkeras.study`'s plan are derived from
the units. Importing this package imports no TensorFlow.
"""

import dataclasses

from kdkeras.errors import UsageError
from kdkeras.methods import blkd, dekd, dist, dkd, fitnets, gskd, nokd, rekd, takd, tfkd_reg, tfkd_self, wskd
from kdkeras.methods.unit import (
    LOGIT_MATCHING,
    TEACHER_KINDS,
    LogitMatching,
    Method,
    Requirement,
    StudyFlag,
    StudyRole,
)
from kdkeras.settings import tune_range

__all__ = [
    "Method",
    "StudyRole",
    "StudyFlag",
    "Requirement",
    "LogitMatching",
    "LOGIT_MATCHING",
    "TEACHER_KINDS",
    "UNITS",
    "names",
    "get",
    "setting_fields",
    "tune_ranges",
    "study_flags",
]

UNITS = {
    unit.name: unit
    for unit in (
        nokd.METHOD,
        blkd.METHOD,
        takd.METHOD,
        rekd.METHOD,
        dekd.METHOD,
        tfkd_self.METHOD,
        tfkd_reg.METHOD,
        wskd.METHOD,
        gskd.METHOD,
        dkd.METHOD,
        dist.METHOD,
        fitnets.METHOD,
    )
}


def names():
    """The `--method` values, in registration order."""
    return tuple(UNITS)


def get(name):
    """The `Method` of `--method=name`; a `UsageError` naming the choices otherwise."""
    if name not in UNITS:
        raise UsageError(f"unknown method {name!r}; expected one of {', '.join(UNITS)}")
    return UNITS[name]


def setting_fields():
    """The dataclass fields of every method setting, shared ones first: `TrainConfig`'s method part.

    A name owned by two units is an error: every flag means one thing.
    """
    found = {f.name: f for f in dataclasses.fields(LogitMatching)}
    for unit in UNITS.values():
        for field in dataclasses.fields(unit.settings) if unit.settings else ():
            if field.name in found:
                raise ValueError(f"{unit.name}: the setting {field.name!r} is declared by another unit too")
            found[field.name] = field
    return list(found.values())


def unread_settings(name):
    """Names of the method settings `--method=name` does not read: the other methods' own.

    A run's record holds every setting; a change to one of these does not
    change what the run trains, so neither a resumed run nor a study's
    finished one is refused for it.
    """
    return tuple(f.name for f in setting_fields() if f.name not in get(name).setting_names)


def tune_ranges():
    """`{setting: Tune}` of every setting a search may vary."""
    return {f.name: tune_range(f) for f in setting_fields() if tune_range(f) is not None}


def study_flags():
    """Every method's `StudyFlag`s, by name."""
    return {flag.name: flag for unit in UNITS.values() for flag in unit.study.flags}
