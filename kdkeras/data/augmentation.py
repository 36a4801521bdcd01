"""Pad-and-crop augmentation, with or without a left-right flip, as numbered views."""

import tensorflow as tf


class Augmentation:
    """The views a training recipe makes of an image: a zero-padded random crop, optionally flipped.

    Every view has a number in `[0, num_views)`, and the view example `index`
    gets in `epoch` is a pure function of `(seed, epoch, index)`
    (`view_of`), so a teacher cache can compute the logits of the very
    pixels a student sees, and a resumed run sees the views an
    uninterrupted one would. Views are uniform over the crop offsets (and
    flips), the distribution of `random`, the stateful draw.

    Args:
        pad: zero pixels added on each side before cropping back to the
            image's size: the largest shift, in pixels.
        flip: whether half the views are mirrored left-right (CIFAR's
            objects are; digits are not flip-invariant).

    Example:

    >>> shift = Augmentation(pad=2, flip=False)
    >>> shift.num_views
    25
    >>> view = shift.view_of(seed=0, epoch=3, index=17)
    >>> shift.apply(tf.zeros((28, 28, 1)), view).shape
    TensorShape([28, 28, 1])

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
        (4-pixel pad, crop and flip for CIFAR); Simard et al., "Best Practices
        for Convolutional Neural Networks Applied to Visual Document
        Analysis", ICDAR 2003 (small distortions, not flips, for digits).
    """

    def __init__(self, pad, flip):
        self.pad = int(pad)
        self.flip = bool(flip)

    def get_config(self):
        return {"pad": self.pad, "flip": self.flip}

    @property
    def flips(self):
        return 2 if self.flip else 1

    @property
    def num_views(self):
        return (2 * self.pad + 1) ** 2 * self.flips

    @property
    def name(self):
        """What a teacher cache's key records: the views and how they are drawn."""
        return f"pad{self.pad}-crop{'-flip' if self.flip else ''}, view_of v1"

    def view_of(self, seed, epoch, index):
        """The view (in `[0, num_views)`) example `index` gets in `epoch`: stateless, so it can be made again."""
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64) * (1 << 32) + tf.cast(index, tf.int64)])
        return tf.random.stateless_uniform([], key, minval=0, maxval=self.num_views, dtype=tf.int32)

    def apply(self, image, view):
        """The `view`-th view of `image`: crop offset `(dy, dx)`, then mirrored when the flip digit is 1.

        Views are numbered `(dy * side + dx) * flips + flipped`, with
        `side = 2 pad + 1`.
        """
        height, width, channels = image.shape
        side, flips, pad = 2 * self.pad + 1, self.flips, self.pad
        dy, dx, flipped = view // (flips * side), (view // flips) % side, view % flips
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        crop = tf.slice(padded, tf.stack([dy, dx, 0]), [height, width, channels])
        if not self.flip:
            return crop
        return tf.cond(flipped > 0, lambda: tf.reverse(crop, axis=[1]), lambda: crop)

    def random(self, image, label):
        """A random view by stateful draws, for `Splits.train`; training runs use `view_of` and `apply`."""
        height, width, channels = image.shape
        padded = tf.pad(image, [[self.pad, self.pad], [self.pad, self.pad], [0, 0]])
        image = tf.image.random_crop(padded, [height, width, channels])
        if self.flip:
            image = tf.image.random_flip_left_right(image)
        return image, label


# CIFAR's recipe (He et al. 2016): shift up to 4 pixels and flip; 162 views.
CROP_FLIP = Augmentation(pad=4, flip=True)
# Digits: shift up to 2 pixels, never mirrored (a mirrored 2 is no digit); 25 views.
SHIFT = Augmentation(pad=2, flip=False)
