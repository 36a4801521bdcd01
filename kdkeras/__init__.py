"""kdkeras: knowledge distillation for TensorFlow/Keras, down to the edge."""

from kdkeras import performance  # noqa: I001  (first: sets TensorFlow's start-up environment)
from kdkeras import accounting, data, errors, losses, models, optimizers
from kdkeras.distillers import (
    CorrelationDistiller,
    DecoupledDistiller,
    Distiller,
    FeatureDistiller,
    GrowingStudentDistiller,
    VirtualTeacher,
    VirtualTeacherDistiller,
    WiseStudentDistiller,
)

__version__ = "0.2.0"

__all__ = [
    "CorrelationDistiller",
    "DecoupledDistiller",
    "Distiller",
    "FeatureDistiller",
    "GrowingStudentDistiller",
    "VirtualTeacher",
    "VirtualTeacherDistiller",
    "WiseStudentDistiller",
    "accounting",
    "data",
    "errors",
    "losses",
    "models",
    "optimizers",
    "performance",
]
