import keras

from kdkeras.models import count_flops, count_params


def tiny():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_counts_by_hand():
    model = tiny()
    # conv 3x3x1x2 + 2 biases, batch norm 4 x 2 (statistics included), dense 2x3 + 3.
    assert count_params(model) == 20 + 8 + 9
    # conv 2 x 9 x 1 per output, 4x4x2 outputs; batch norm 32; pooling 2; dense 2 x 2 x 3.
    assert count_flops(model) == 576 + 32 + 2 + 12


def test_nested_models_are_counted_through():
    inner = tiny()
    inputs = keras.Input((4, 4, 1))
    outer = keras.Model(inputs, keras.layers.Dense(5)(inner(inputs)))
    assert count_flops(outer) == count_flops(inner) + 2 * 3 * 5
    assert count_params(outer) == count_params(inner) + 3 * 5 + 5
