"""Datasets as `tf.data` pipelines of raw pixels, by name."""

from kdkeras.data.datasets import NAMES, DatasetError, DatasetInfo, Splits, augment_cifar, load, training_batches
