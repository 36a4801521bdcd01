"""Architectures for teachers and students, by name."""

from kdkeras.models.adapt import check_channels, gives_probabilities, input_shape_of, logits, resize_to
from kdkeras.models.applications import application
from kdkeras.models.cost import count_flops, count_params
from kdkeras.models.fused_batch_norm import FusedBatchNormalization
from kdkeras.models.plain_cnn import plain_cnn
from kdkeras.models.registry import get, names, parse, register
from kdkeras.models.resnet import resnet

__all__ = [
    "FusedBatchNormalization",
    "application",
    "check_channels",
    "count_flops",
    "count_params",
    "get",
    "gives_probabilities",
    "input_shape_of",
    "logits",
    "names",
    "parse",
    "plain_cnn",
    "register",
    "resize_to",
    "resnet",
]
