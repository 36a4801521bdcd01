import keras
import pytest

from kdkeras.models import count_params, plain_cnn


def test_plain2_parameters_counted_by_hand():
    # conv 3x3x1x16, batch norm 4x16, conv 3x3x16x32, batch norm 4x32, dense 32x10 + 10.
    assert count_params(plain_cnn(2, (28, 28, 1), 10)) == 144 + 64 + 4608 + 128 + 330


@pytest.mark.parametrize("depth", [2, 4, 6, 8, 10])
def test_depth_counts_the_convolutions_and_a_pool_follows_every_second(depth):
    model = plain_cnn(depth, (32, 32, 3), 10)
    kinds = [type(layer) for layer in model.layers]
    assert kinds.count(keras.layers.Conv2D) == depth
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert 0 < len(pools) <= depth // 2
    assert all(int(layer.name.removeprefix("pool")) % 2 == 0 for layer in pools)


def test_pooling_stops_at_two_by_two():
    model = plain_cnn(10, (32, 32, 3), 10)  # five pairs, but 32 halves only four times to 2
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 4


@pytest.mark.parametrize("depth", [1, 3, 12])
def test_unknown_depths_are_refused(depth):
    with pytest.raises(ValueError, match="plain CNN depth"):
        plain_cnn(depth, (32, 32, 3), 10)
