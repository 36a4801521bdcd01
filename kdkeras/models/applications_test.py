"""Keras Applications by name: options, their own preprocessing inside, logits out."""

import keras
import numpy as np
import pytest

from kdkeras import models
from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError

SMALL = "mobilenet_v3_small:alpha=0.75,minimalistic=true"


@pytest.mark.parametrize(
    "spec",
    [SMALL, "mobilenet_v3_small:alpha=0.75", "mobilenet_v2:alpha=0.35"]
    + [pytest.param(s, marks=pytest.mark.slow) for s in ("efficientnet_v2_b0", "resnet50", "convnext_tiny")]
    + [pytest.param("mobilenet_v3_large:alpha=0.75", marks=pytest.mark.slow)],
)
def test_applications_map_raw_pixels_to_logits(spec):
    model = models.get(spec, (32, 32, 3), 7)
    assert model.input_shape == (None, 32, 32, 3)
    out = np.asarray(model(np.full((2, 32, 32, 3), 255.0, "float32")))
    assert out.shape == (2, 7) and np.isfinite(out).all()
    assert not models.gives_probabilities(model)
    assert model.get_layer("logits").activation is keras.activations.linear


def test_options_name_the_model_and_set_the_width():
    narrow = models.get("mobilenet_v3_small:alpha=0.75:minimalistic=true", (32, 32, 3), 10)
    wide = models.get("mobilenet_v3_small:alpha=1.0,minimalistic=true", (32, 32, 3), 10)
    assert narrow.name == "mobilenet_v3_small_alpha0.75_minimalisticTrue"
    assert models.count_params(narrow) < models.count_params(wide)


def test_input_option_runs_the_backbone_at_its_size_on_the_data_resolution():
    model = models.get(f"{SMALL},input=48", (32, 32, 3), 10)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("resize").output.shape[1:3] == (48, 48)
    assert model.layers[2].input_shape[1:3] == (48, 48)
    assert model.get_layer("resize").interpolation == "bilinear"


def test_mobilenet_v2_scales_pixels_to_plus_minus_one():
    layer = models.get("mobilenet_v2:alpha=0.35", (32, 32, 3), 10).get_layer("normalize")
    out = np.asarray(layer(np.array([[[[0.0, 127.5, 255.0]]]], "float32")))
    np.testing.assert_allclose(out, [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)


def test_resnet50_takes_rgb_and_gives_its_weights_caffe_bgr():
    from kdkeras.models.applications import ReverseChannels

    rgb = np.array([[[[200.0, 100.0, 50.0]]]], "float32")
    mean_bgr = keras.layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0])
    out = np.asarray(mean_bgr(ReverseChannels()(rgb)))
    np.testing.assert_allclose(out, [[[[50 - 103.939, 100 - 116.779, 200 - 123.68]]]], atol=1e-4)


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ("mobilenet_v3_small:alpha=wide", ValueError, "alpha='wide' is not a width multiplier"),
        ("mobilenet_v3_small:depth=3", ValueError, "takes options alpha, minimalistic, input, weights"),
        ("resnet8:alpha=0.5", ValueError, "'resnet8' takes no options"),
        ("mobilenet_v3_small:input=0", ValueError, "is not a size"),
        ("mobilenet_v3_small:alpha", ValueError, "write mobilenet_v3_small:key=value"),
        ("mobilenetv3", KeyError, "mobilenet_v3_small"),
    ],
)
def test_bad_names_and_options_say_what_is_expected(spec, error, words):
    with pytest.raises(error, match=words):
        models.parse(spec)


def test_command_line_names_are_checked_with_the_flag():
    TrainConfig(student=f"{SMALL},input=96", teacher="convnext_tiny:input=224").validate()
    TrainConfig(method="gskd", stages=("mobilenet_v3_small:alpha=0.5:input=96", "resnet8")).validate()
    with pytest.raises(UsageError, match="--student=mobilenet_v3_small:alpha=x: .*not a width multiplier"):
        TrainConfig(student="mobilenet_v3_small:alpha=x").validate()
    # A comma-separated list cut the options off their name: the message says to use ':'.
    with pytest.raises(UsageError, match="--stages: 'input=96'.*separate options with ':'"):
        TrainConfig(method="gskd", stages=("mobilenet_v3_small:alpha=0.5", "input=96")).validate()
