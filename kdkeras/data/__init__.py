"""Datasets as `tf.data` pipelines of raw pixels, by name."""

from kdkeras.errors import DatasetError
from kdkeras.data.datasets import NAMES, DatasetInfo, Splits, augment_cifar, load, training_batches
