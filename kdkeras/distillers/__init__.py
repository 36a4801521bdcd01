"""Distillation methods, each a `keras.Model` with its own `train_step`."""

from kdkeras.distillers.distiller import Distiller
