"""kdkeras's CIFAR ResNets written in PyTorch, for the tools that compare against a plain PyTorch loop.

Not part of the package: PyTorch is an optional extra (`pip install -e ".[peer]"`).
Import this module only where `import torch` works.

The networks are `kdkeras.models.resnet(depth, ...)` layer for layer, so that
a result of the PyTorch peer says something about kdkeras's training and not
about a different network:

- a 3x3 convolution of 16 channels, then three stages of `(depth - 2) / 6`
  basic blocks of 16, 32 and 64 channels; the first block of stages 2 and 3
  halves the resolution and has a 1x1 projection shortcut (option B);
  global average pooling and one dense layer;
- convolutions pad as TensorFlow's `padding="same"`: a 3x3 stride-2
  convolution of an even-sized input pads one row and column at the bottom
  and right only (PyTorch's `padding=1` would pad both sides and shift the
  sampling grid by one pixel);
- batch normalisation with Keras's `epsilon=1e-3` and `momentum=0.9`
  (PyTorch's `momentum=0.1`);
- Keras's initialisers: `he_normal` (truncated normal) convolution kernels,
  `glorot_uniform` dense kernel, zero biases;
- the pixel normalisation is the model's first layer, on raw 0-255 pixels.

`count_weights` counts what `kdkeras.models.count_params` counts (parameters
and batch-norm moving statistics), and `copy_keras_weights` loads a kdkeras
ResNet's weights by layer name, so both can be checked against kdkeras.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

CIFAR10_NORMALIZATION = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.1  # Keras's momentum=0.9: the new batch's weight in the moving statistics
# Keras's truncated normal draws within 2 standard deviations and rescales by this
# (the standard deviation of a unit normal truncated there) to keep the variance asked.
TRUNCATED_NORMAL_STD = 0.87962566103423978


def same_padding(size, kernel, stride):
    """`(before, after)` padding of TensorFlow's `padding="same"` along one axis of `size`."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A bias-free square convolution padded as TensorFlow's `padding="same"`."""

    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, bias=False)

    def forward(self, x):
        kernel, stride = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(x.shape[-2], kernel, stride)
        left, right = same_padding(x.shape[-1], kernel, stride)
        if top == bottom and left == right:  # the convolution pads symmetric borders itself, without a copy
            return functional.conv2d(x, self.weight, None, self.stride, (top, left))
        return super().forward(functional.pad(x, (left, right, top, bottom)))


class ConvBatchNorm(nn.Module):
    """A convolution, batch normalisation and optionally ReLU; `keras_name` is kdkeras's layer prefix."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, keras_name, relu=True):
        super().__init__()
        self.keras_name = keras_name
        self.relu = relu
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, stride)
        self.bn = nn.BatchNorm2d(out_channels, eps=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return functional.relu(x) if self.relu else x


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (a 1x1 projection where the shape changes)."""

    def __init__(self, in_channels, out_channels, stride, keras_name):
        super().__init__()
        self.first = ConvBatchNorm(in_channels, out_channels, 3, stride, f"{keras_name}_1")
        self.second = ConvBatchNorm(out_channels, out_channels, 3, 1, f"{keras_name}_2", relu=False)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = ConvBatchNorm(in_channels, out_channels, 1, stride, f"{keras_name}_proj", relu=False)

    def forward(self, x):
        shortcut = x if self.projection is None else self.projection(x)
        return functional.relu(shortcut + self.second(self.first(x)))


class ResNet(nn.Module):
    """A CIFAR ResNet of `depth = 6n + 2` layers, as `kdkeras.models.resnet(depth, ...)`.

    Args:
        depth: 8, 14, 20, 26, ...
        num_classes: number of output logits.
        in_channels: channels of the input pixels.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`
            to scale the 0-255 pixels to 0-1 (what kdkeras does for an
            `imagefolder:` dataset).

    Example:

    ```python
    teacher = ResNet(26, 10)
    logits = teacher(torch.zeros(4, 3, 32, 32))  # raw 0-255 pixels, NCHW
    ```

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", 2016, section 4.2.
    """

    def __init__(self, depth, num_classes, in_channels=3, normalization=None):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n+2 with n >= 1, got {depth}.")
        self.depth = depth
        self.num_classes = num_classes
        self.normalization = normalization
        if normalization is None:
            mean, std = np.zeros(in_channels), np.full(in_channels, 255.0)
        else:
            mean, std = (
                np.broadcast_to(np.asarray(v, dtype=np.float64) * 255.0, (in_channels,)) for v in normalization
            )
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.stem = ConvBatchNorm(in_channels, 16, 3, 1, "stem")
        blocks, channels = [], 16
        for stage, filters in enumerate((16, 32, 64)):
            for block in range((depth - 2) // 6):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(channels, filters, stride, f"stage{stage + 1}_block{block + 1}"))
                channels = filters
        self.blocks = nn.Sequential(*blocks)
        self.logits = nn.Linear(64, num_classes)
        initialize_as_keras(self)

    def forward(self, pixels):
        x = (pixels.float() - self.mean) / self.std
        x = self.blocks(self.stem(x))
        return self.logits(x.mean(dim=(2, 3)))


def initialize_as_keras(model):
    """Keras's defaults: `he_normal` convolutions, `glorot_uniform` dense kernels, zero biases, unit BN scales."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
                std = math.sqrt(2.0 / fan_in) / TRUNCATED_NORMAL_STD
                nn.init.trunc_normal_(module.weight, 0.0, std, -2.0 * std, 2.0 * std)
            elif isinstance(module, nn.Linear):
                limit = math.sqrt(6.0 / (module.in_features + module.out_features))
                nn.init.uniform_(module.weight, -limit, limit)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
                module.reset_running_stats()


def count_weights(model):
    """Parameters and batch-norm moving means and variances: what `kdkeras.models.count_params` counts."""
    total = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            total += module.running_mean.numel() + module.running_var.numel()
    return total


def copy_keras_weights(keras_model, model):
    """Loads a `kdkeras.models.resnet` model's weights into the `ResNet` of the same depth, by layer name."""
    layers = {layer.name: layer for layer in keras_model.layers}
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, ConvBatchNorm):
                continue
            (kernel,) = layers[f"{module.keras_name}_conv"].get_weights()
            module.conv.weight.copy_(torch.from_numpy(np.transpose(kernel, (3, 2, 0, 1)).copy()))
            gamma, beta, moving_mean, moving_variance = layers[f"{module.keras_name}_bn"].get_weights()
            for target, value in zip(
                (module.bn.weight, module.bn.bias, module.bn.running_mean, module.bn.running_var),
                (gamma, beta, moving_mean, moving_variance),
            ):
                target.copy_(torch.from_numpy(np.asarray(value)))
        kernel, bias = layers["logits"].get_weights()
        model.logits.weight.copy_(torch.from_numpy(kernel.T.copy()))
        model.logits.bias.copy_(torch.from_numpy(bias))
