"""Datasets as `tf.data` pipelines of raw pixels, by name."""

from kdkeras.data.augmentation import CROP_FLIP, SHIFT, Augmentation
from kdkeras.data.datasets import NAMES, DatasetInfo, Splits, augmentation_for, load, training_batches
from kdkeras.errors import DatasetError

__all__ = [
    "CROP_FLIP",
    "NAMES",
    "SHIFT",
    "Augmentation",
    "DatasetError",
    "DatasetInfo",
    "Splits",
    "augmentation_for",
    "load",
    "training_batches",
]
