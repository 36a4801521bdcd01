import numpy as np
import pytest

from kdkeras import models

# Published CIFAR ResNet sizes (He et al. 2016, Table 6): 0.27M, 0.46M,
# 0.66M, 0.85M, 1.7M. Ours use 1x1 projection shortcuts and count the
# batch-normalisation statistics, so allow 3%.
PUBLISHED = {"resnet20": 0.27e6, "resnet32": 0.46e6, "resnet44": 0.66e6, "resnet56": 0.85e6, "resnet110": 1.7e6}


@pytest.mark.parametrize("name, expected", sorted(PUBLISHED.items()))
def test_resnet_parameter_counts_match_published(name, expected):
    model = models.get(name, (32, 32, 3), 10)
    assert abs(models.count_params(model) - expected) / expected < 0.03


@pytest.mark.parametrize("name", ["resnet8", "resnet14", "resnet26", "plain2", "plain10"])
@pytest.mark.parametrize("input_shape, num_classes", [((28, 28, 1), 10), ((32, 32, 3), 100)])
def test_models_map_pixels_to_logits(name, input_shape, num_classes):
    model = models.get(name, input_shape, num_classes)
    out = model(np.zeros((2,) + input_shape, "float32"))
    assert out.shape == (2, num_classes)
    assert model.name == name


def test_resnet20_flops_match_published_multiply_accumulates():
    # resnet20 is ~41M multiply-accumulates; count_flops counts 2 per MAC
    # plus the cheap element-wise layers.
    flops = models.count_flops(models.get("resnet20", (32, 32, 3), 10))
    assert 81e6 < flops < 84e6


def test_depth_orders_size_and_cost():
    sizes = [models.count_params(models.get(f"resnet{d}", (32, 32, 3), 10)) for d in (8, 14, 26)]
    flops = [models.count_flops(models.get(f"resnet{d}", (32, 32, 3), 10)) for d in (8, 14, 26)]
    assert sizes == sorted(sizes) and flops == sorted(flops)


def test_normalization_is_the_first_layer():
    model = models.get("resnet8", (28, 28, 1), 10, normalization=((0.5,), (0.25,)))
    normalized = model.get_layer("normalize")(np.full((1, 28, 28, 1), 255.0, "float32"))
    np.testing.assert_allclose(np.asarray(normalized), (1.0 - 0.5) / 0.25, rtol=1e-5)


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="resnet8"):
        models.get("resnet9", (32, 32, 3), 10)
