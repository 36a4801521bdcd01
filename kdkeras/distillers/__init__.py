"""Distillation methods, each a `keras.Model` with its own `train_step`."""

from kdkeras.distillers.correlation_distiller import CorrelationDistiller
from kdkeras.distillers.decoupled_distiller import DecoupledDistiller
from kdkeras.distillers.distiller import Distiller
from kdkeras.distillers.feature_distiller import FeatureDistiller
from kdkeras.distillers.growing_student_distiller import GrowingStudentDistiller
from kdkeras.distillers.virtual_teacher import VirtualTeacher
from kdkeras.distillers.virtual_teacher_distiller import VirtualTeacherDistiller
from kdkeras.distillers.wise_student_distiller import WiseStudentDistiller

__all__ = [
    "CorrelationDistiller",
    "DecoupledDistiller",
    "Distiller",
    "FeatureDistiller",
    "GrowingStudentDistiller",
    "VirtualTeacher",
    "VirtualTeacherDistiller",
    "WiseStudentDistiller",
]
