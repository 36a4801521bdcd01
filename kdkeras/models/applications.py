"""Keras Applications families as kdkeras models: raw pixels in, logits out.

Each is a functional model `pixels -> [resize] -> the family's own
preprocessing -> backbone (no top) -> global average pool -> Dense logits`,
so, like the CIFAR ResNets of the registry, it takes raw 0-255 pixels and
an exported file keeps its preprocessing. The head is always a new dense
layer without activation: any class count, pretrained backbone weights
where they can be downloaded, and logits, never probabilities.
"""

import keras
from keras import layers

# Caffe-style ImageNet means, in the BGR order ResNet50's weights expect.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="kdkeras")
class ReverseChannels(layers.Layer):
    """RGB to BGR (and back): ResNet50's weights were trained on BGR pixels."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=-1)


@keras.saving.register_keras_serializable(package="kdkeras")
class Resize(layers.Layer):
    """Bilinear resizing to `size`, a plain `RESIZE_BILINEAR` in a LiteRT file.

    `keras.layers.Resizing` carries the state of a random-augmentation layer,
    which LiteRT keeps as variable operators that an int8 file cannot have.
    It sits inside the models `application` builds, so it is serialisable.

    Args:
        size: `(height, width)` of the output.
        interpolation: a `keras.ops.image.resize` interpolation.
    """

    def __init__(self, size, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(size)
        self.interpolation = interpolation

    def call(self, inputs):
        return keras.ops.image.resize(inputs, self.size, interpolation=self.interpolation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.size + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


def _rescale_to_symmetric(x):
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(x)


def _caffe_preprocess(x):
    x = ReverseChannels(name="rgb_to_bgr")(x)
    return layers.Normalization(mean=list(_CAFFE_BGR_MEAN), variance=[1.0, 1.0, 1.0], name="normalize")(x)


# family -> (constructor, options it takes besides input and weights,
#            preprocessing applied before the backbone or None when the
#            backbone preprocesses itself with include_preprocessing=True)
FAMILIES = {
    "mobilenet_v2": (keras.applications.MobileNetV2, ("alpha",), _rescale_to_symmetric),
    "mobilenet_v3_small": (keras.applications.MobileNetV3Small, ("alpha", "minimalistic"), None),
    "mobilenet_v3_large": (keras.applications.MobileNetV3Large, ("alpha", "minimalistic"), None),
    "efficientnet_v2_b0": (keras.applications.EfficientNetV2B0, (), None),
    "resnet50": (keras.applications.ResNet50, (), _caffe_preprocess),
    "convnext_tiny": (keras.applications.ConvNeXtTiny, (), None),
}


def application(
    family,
    input_shape,
    num_classes,
    normalization=None,
    alpha=1.0,
    minimalistic=False,
    input=None,
    weights=None,
    name=None,
):
    """Builds the Keras Applications `family` for pixels of `input_shape`.

    Args:
        family: a key of `FAMILIES`.
        input_shape: `(height, width, channels)` of the raw 0-255 pixels the
            model takes (the data's).
        num_classes: number of output logits.
        normalization: ignored: the family's own preprocessing is used, the
            one its pretrained weights expect.
        alpha: width multiplier (MobileNets).
        minimalistic: MobileNetV3 without squeeze-excite and hard-swish.
        input: `(height, width)` the backbone runs at; the pixels are resized
            to it (bilinear) inside the model. `None` runs it at `input_shape`.
        weights: `None` (random), `"imagenet"` (downloaded by Keras) or a
            weights file, for the backbone.
        name: model name, `family` by default.
    """
    constructor, _, preprocess = FAMILIES[family]
    size = tuple(input) if input is not None else tuple(input_shape[:2])
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs
    if size != tuple(input_shape[:2]):
        x = Resize(size, name="resize")(x)
    kwargs = {}
    if "alpha" in FAMILIES[family][1]:
        kwargs["alpha"] = alpha
    if "minimalistic" in FAMILIES[family][1]:
        kwargs["minimalistic"] = minimalistic
    if preprocess is None:
        kwargs["include_preprocessing"] = True
    else:
        x = preprocess(x)
    backbone = constructor(
        input_shape=size + (input_shape[-1],), include_top=False, weights=weights, pooling="avg", **kwargs
    )
    x = backbone(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or family)
