import keras
import numpy as np
import pytest

from kdkeras import models
from kdkeras.models import features


def pixels(count=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(count, size, size, 3)).astype("float32")


@pytest.mark.parametrize("depth", [8, 14, 26])
def test_default_hint_layer_is_the_end_of_a_resnets_second_stage(depth):
    model = models.resnet(depth, (32, 32, 3), 10)
    blocks = (depth - 2) // 6
    name = features.default_hint_layer(model)
    assert name == f"stage2_block{blocks}_out"
    # the layer the third stage starts from: 16x16 maps of the second stage's 32 channels
    assert model.get_layer(name).output.shape == (None, 16, 16, 32)
    assert model.get_layer("stage3_block1_1_conv").input is model.get_layer(name).output


def test_other_models_have_no_default_hint_layer():
    assert features.default_hint_layer(models.plain_cnn(4, (32, 32, 3), 10)) is None


def test_extractor_gives_the_layer_and_the_model_output_with_shared_weights():
    model = models.resnet(8, (32, 32, 3), 10)
    extractor = features.feature_extractor(model, "stage2_block1_out")
    x = pixels()
    feature, output = (np.asarray(t) for t in extractor(x))
    inner = keras.Model(model.input, model.get_layer("stage2_block1_out").output)
    np.testing.assert_allclose(feature, np.asarray(inner(x)), atol=1e-6)
    np.testing.assert_allclose(output, np.asarray(model(x)), atol=1e-6)
    assert {id(v) for v in extractor.weights} == {id(v) for v in model.weights}


def test_layer_inside_a_nested_backbone_is_found():
    model = models.get("mobilenet_v2:alpha=0.35", (32, 32, 3), 10)  # the backbone is one layer of the classifier
    backbone = model.layers[2]
    path = features.find_layer(model, "block_2_add")
    assert [layer.name for layer in path] == [backbone.name, "block_2_add"]
    extractor = features.feature_extractor(model, "block_2_add")
    x = pixels()
    feature, output = (np.asarray(t) for t in extractor(x))
    normalized = keras.Model(model.input, model.get_layer("normalize").output)(x)
    expected = keras.Model(backbone.input, backbone.get_layer("block_2_add").output)(normalized)
    np.testing.assert_allclose(feature, np.asarray(expected), atol=1e-5)
    np.testing.assert_allclose(output, np.asarray(model(x)), atol=1e-5)
    assert {id(v) for v in extractor.weights} == {id(v) for v in model.weights}


def test_a_missing_layer_names_the_argument():
    model = models.resnet(8, (32, 32, 3), 10)
    with pytest.raises(ValueError, match="teacher_layer: the model 'resnet8' has no layer 'stage9_out'"):
        features.feature_extractor(model, "stage9_out", "teacher_layer")


def test_features_and_logits_of_a_softmax_model_are_log_probabilities():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    feature, logits = features.features_and_logits(features.feature_extractor(model, "hidden"), model, x)
    assert feature.shape == (6, 5)
    np.testing.assert_allclose(np.asarray(logits), np.log(np.asarray(model(x))), rtol=1e-5)
