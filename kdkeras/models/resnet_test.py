import keras
import pytest

from kdkeras.models import count_flops, count_params, resnet


def cifar_resnet_params(blocks, channels, classes):
    """He et al.'s CIFAR ResNet counted by hand: 3x3 convolutions without bias, a batch norm (4 weights per
    channel, statistics included) after each, 1x1 projections where a stage starts, one dense layer."""

    def conv(k, cin, cout):
        return k * k * cin * cout

    def bn(c):
        return 4 * c

    total = conv(3, channels, 16) + bn(16)
    for stage, (cin, cout) in enumerate([(16, 16), (16, 32), (32, 64)]):
        for block in range(blocks):
            first = block == 0
            total += conv(3, cin if first else cout, cout) + conv(3, cout, cout) + 2 * bn(cout)
            if first and stage > 0:
                total += conv(1, cin, cout) + bn(cout)
    return total + 64 * classes + classes


@pytest.mark.parametrize("depth", [8, 14, 26])
@pytest.mark.parametrize("input_shape, classes", [((32, 32, 3), 10), ((28, 28, 1), 100)])
def test_parameters_are_he_et_al_s_network(depth, input_shape, classes):
    model = resnet(depth, input_shape, classes)
    assert count_params(model) == cifar_resnet_params((depth - 2) // 6, input_shape[-1], classes)


def test_resnet8_flops_counted_by_hand():
    # 2 FLOPs per multiply-accumulate, one per output of rescaling, batch norm, addition and pooling, on 32x32x3:
    # stem 3,072 + 884,736 + 16,384; stage 1 (32x32x16) 2 x 4,718,592 + 2 x 16,384 + 16,384;
    # stage 2 (16x16x32) 2,359,296 + 4,718,592 + 262,144 (projection) + 3 x 8,192 (batch norms) + 8,192;
    # stage 3 (8x8x64) 2,359,296 + 4,718,592 + 262,144 + 3 x 4,096 + 4,096; pooling 64, dense 2 x 64 x 10.
    assert count_flops(resnet(8, (32, 32, 3), 10)) == 25_121_088


def test_stages_halve_the_resolution_and_double_the_channels():
    model = resnet(14, (32, 32, 3), 10)
    outputs = {name: model.get_layer(f"{name}_out").output.shape[1:] for name in ("stage1_block2", "stage2_block2")}
    assert outputs == {"stage1_block2": (32, 32, 16), "stage2_block2": (16, 16, 32)}
    assert model.get_layer("stage3_block2_out").output.shape[1:] == (8, 8, 64)
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 6


@pytest.mark.parametrize("depth", [2, 7, 9, 12])
def test_depths_not_6n_plus_2_are_refused(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet(depth, (32, 32, 3), 10)
