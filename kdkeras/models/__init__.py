"""Architectures for teachers and students, by name."""

from kdkeras.models.cost import count_flops, count_params
from kdkeras.models.plain_cnn import plain_cnn
from kdkeras.models.registry import get, names, register
from kdkeras.models.resnet import resnet
