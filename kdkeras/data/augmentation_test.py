import numpy as np
import pytest
import tensorflow as tf

from kdkeras.data.augmentation import CROP_FLIP, SHIFT, Augmentation


def numpy_view(image, view, pad, flip):
    """The view computed independently of `Augmentation.apply`: pad with zeros, cut, mirror."""
    side, flips = 2 * pad + 1, 2 if flip else 1
    offset, mirrored = divmod(view, flips)
    dy, dx = divmod(offset, side)
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    crop = padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return crop[:, ::-1] if mirrored else crop


def draw_views(augmentation, seed, epoch, count):
    draw = tf.function(
        lambda: tf.map_fn(
            lambda i: augmentation.view_of(seed, epoch, i),
            tf.range(count, dtype=tf.int64),
            fn_output_signature=tf.int32,
        )
    )
    return draw().numpy()


@pytest.mark.parametrize("augmentation, shape", [(CROP_FLIP, (32, 32, 3)), (SHIFT, (28, 28, 1))])
def test_every_view_is_the_padded_crop_computed_independently(augmentation, shape):
    image = np.arange(np.prod(shape), dtype="float32").reshape(shape) + 1
    views = set()
    for view in range(augmentation.num_views):
        got = augmentation.apply(tf.constant(image), tf.constant(view)).numpy()
        np.testing.assert_array_equal(got, numpy_view(image, view, augmentation.pad, augmentation.flip))
        views.add(got.tobytes())
    assert len(views) == augmentation.num_views  # no two numbers name the same view


def test_digits_are_shifted_by_at_most_two_pixels_and_never_mirrored():
    assert (SHIFT.pad, SHIFT.flip, SHIFT.num_views) == (2, False, 25)
    image = np.zeros((28, 28, 1), "float32")
    image[10:18, 12, 0] = 255.0  # a vertical stroke at column 12, rows 10-17
    image[10, 13, 0] = 255.0  # a serif on its right: mirrored, it would sit on the left
    for view in range(SHIFT.num_views):
        got = SHIFT.apply(tf.constant(image), tf.constant(view)).numpy()[..., 0]
        rows, columns = np.nonzero(got)
        top, stroke = rows.min(), columns.min()
        assert abs(top - 10) <= 2 and abs(stroke - 12) <= 2
        assert got[top, stroke + 1] == 255.0  # the serif is still on the right
    for _ in range(20):
        got, label = SHIFT.random(tf.constant(image), 4)
        assert label == 4
        assert any(np.array_equal(got.numpy(), numpy_view(image, v, 2, False)) for v in range(25))


@pytest.mark.parametrize("augmentation", [CROP_FLIP, SHIFT])
def test_views_are_uniform_and_a_pure_function_of_seed_epoch_and_example(augmentation):
    count = 100 * augmentation.num_views
    views = draw_views(augmentation, 3, 0, count)
    counts = np.bincount(views, minlength=augmentation.num_views)
    assert len(counts) == augmentation.num_views and counts.min() > 50 and counts.max() < 150  # 100 expected each
    np.testing.assert_array_equal(views[:50], draw_views(augmentation, 3, 0, 50))
    assert not np.array_equal(views[:50], draw_views(augmentation, 3, 1, 50))
    assert not np.array_equal(views[:50], draw_views(augmentation, 4, 0, 50))


def test_cifar_views_are_the_ones_the_cifar10_study_trained_and_cached():
    """Frozen from the code before digits had their own augmentation: resumed runs and caches stay valid."""
    assert CROP_FLIP.num_views == 162 and CROP_FLIP.name == "pad4-crop-flip, view_of v1"
    drawn = [int(CROP_FLIP.view_of(s, e, i)) for s in (0, 5) for e in (0, 7) for i in (0, 1, 49999)]
    assert drawn == [80, 117, 50, 20, 46, 46, 131, 92, 152, 12, 28, 65]
    assert SHIFT.name != CROP_FLIP.name  # a teacher cache of one is never taken for the other


def test_config_round_trip():
    augmentation = Augmentation(**SHIFT.get_config())
    assert augmentation.get_config() == {"pad": 2, "flip": False} and augmentation.name == SHIFT.name
