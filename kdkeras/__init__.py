"""kdkeras: knowledge distillation for TensorFlow/Keras, down to the edge."""

from kdkeras import performance  # noqa: I001  (first: sets TensorFlow's start-up environment)
from kdkeras import data, losses, models
from kdkeras.distillers import (
    Distiller,
    GrowingStudentDistiller,
    VirtualTeacher,
    VirtualTeacherDistiller,
    WiseStudentDistiller,
)

__version__ = "0.1.0"
