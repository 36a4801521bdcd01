import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras import teacher_cache
from kdkeras.data import CROP_FLIP, SHIFT, augmentation_for, mnist_sample
from kdkeras.data.datasets import DatasetInfo, Splits

NUM_TRAIN, SIDE, CLASSES = 40, 8, 5


def make_splits(augment=True, seed=7, pixels_seed=0, augmentation=CROP_FLIP):
    rng = np.random.default_rng(pixels_seed)
    x = rng.uniform(0, 255, (NUM_TRAIN, SIDE, SIDE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, NUM_TRAIN).astype("int64")
    return splits_of(x, y, augment, seed, augmentation), x


def splits_of(x, y, augment, seed, augmentation, name="synthetic"):
    info = DatasetInfo(name, x.shape[1:], CLASSES, len(y), 0)
    return Splits(
        train=None,
        test=None,
        info=info,
        train_examples=tf.data.Dataset.from_tensor_slices((x, y)),
        batch_size=16,
        augment=augment,
        augmentation=augmentation,
        seed=seed,
        shuffle_buffer=len(y),
    )


def make_model(seed=1, shape=(SIDE, SIDE, 3)):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(hidden)))


def numpy_view(image, view, pad=4, flip=True):
    """The view computed independently of `Augmentation.apply`: pad, cut, mirror."""
    side, flips = 2 * pad + 1, 2 if flip else 1
    dy, dx, mirrored = view // (flips * side), (view // flips) % side, view % flips
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    crop = padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return crop[:, ::-1] if mirrored else crop


def epochs_of_batches(splits, cached, epochs):
    """Every batch of `epochs` epochs, as a run trains on them."""
    for epoch in range(epochs):
        yield epoch, list(splits.epoch_batches(epoch, cached))


def check_cached_logits_are_the_models_output_for_the_very_pixels_seen(splits, x, model, directory, epochs=3):
    """Every batch of `epochs` epochs: the cached logits against a forward pass on the batch's pixels, and
    those pixels against the views of the original images computed independently (numpy)."""
    augmentation = splits.augmentation
    cache = teacher_cache.open_or_fill(model, splits, epochs, directory, batch_size=16)
    assert cache.filled and cache.table.shape == (epochs, len(x), CLASSES) and cache.table.dtype == np.float32
    worst, views_by_epoch = 0.0, []
    for epoch, batches in epochs_of_batches(splits, {"teacher_logits": cache.table}, epochs):
        seen = []
        for inputs, _ in batches:
            direct = model(inputs["images"], training=False).numpy()
            worst = max(worst, float(np.max(np.abs(inputs["teacher_logits"].numpy() - direct))))
            seen.append(inputs["images"].numpy())
        seen = np.concatenate(seen)
        views = [int(augmentation.view_of(splits.seed, epoch, i)) for i in range(len(x))]
        # Every example once per epoch, as the independently computed view of it.
        expected = {numpy_view(x[i], views[i], augmentation.pad, augmentation.flip).tobytes() for i in range(len(x))}
        assert {image.tobytes() for image in seen} == expected
        views_by_epoch.append(views)
    print(f"max |cached - forward pass| = {worst:.3g}")
    assert worst <= 1e-5  # float32 storage: only batched-kernel rounding differs
    assert views_by_epoch[0] != views_by_epoch[1] != views_by_epoch[2]
    return cache


def test_cached_logits_are_the_models_output_for_the_very_pixels_seen(tmp_path):
    splits, x = make_splits()
    check_cached_logits_are_the_models_output_for_the_very_pixels_seen(splits, x, make_model(), str(tmp_path))


def test_with_the_mnist_shift_the_cached_logits_are_the_teachers_on_the_shifted_digit_seen(tmp_path):
    """Digits are shifted, never mirrored: the cache follows the augmentation the dataset uses."""
    (x, y), _ = mnist_sample.load_arrays()
    x, y = x[:48].astype("float32"), y[:48] % CLASSES
    splits = splits_of(x, y, True, 7, augmentation_for("mnist"), name="mnist")
    assert splits.augmentation is SHIFT
    model = make_model(shape=(28, 28, 1))
    cache = check_cached_logits_are_the_models_output_for_the_very_pixels_seen(splits, x, model, str(tmp_path))
    # Views of the crop-and-flip recipe would give other logits, so the two never share a cache.
    cifar_views = splits_of(x, y, True, 7, CROP_FLIP, name="mnist")
    assert teacher_cache.cache_key(model, cifar_views) != cache.key


def test_a_second_run_reuses_the_cache_and_more_epochs_refill_it(tmp_path, capsys):
    splits, _ = make_splits()
    model = make_model()
    first = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    again = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    fewer = teacher_cache.open_or_fill(model, splits, 1, str(tmp_path))
    assert first.filled and not again.filled and not fewer.filled
    np.testing.assert_array_equal(first.table, again.table)
    # A reader spent nothing on the fill, but its record still says what the fill cost whoever did it.
    assert again.seconds == 0.0 and first.seconds > 0
    assert again.record("teacher")["fill_seconds"] == first.record("teacher")["fill_seconds"] == round(first.seconds, 3)
    more = teacher_cache.open_or_fill(model, splits, 3, str(tmp_path))
    assert more.filled and more.table.shape[0] == 3 and "needs 3" in capsys.readouterr().out
    np.testing.assert_allclose(more.table[:2], first.table[:2], atol=1e-6)


def test_what_determines_the_table_gives_another_cache(tmp_path):
    splits, _ = make_splits()
    model = make_model()
    base = teacher_cache.open_or_fill(model, splits, 1, str(tmp_path))
    others = [
        teacher_cache.open_or_fill(make_model(seed=2), splits, 1, str(tmp_path)),
        teacher_cache.open_or_fill(model, make_splits(seed=8)[0], 1, str(tmp_path)),
        teacher_cache.open_or_fill(model, make_splits(pixels_seed=1)[0], 1, str(tmp_path)),
        teacher_cache.open_or_fill(model, make_splits(augment=False)[0], 5, str(tmp_path)),
    ]
    assert all(c.filled for c in others)
    assert len({base.path} | {c.path for c in others}) == 5
    assert others[-1].table.shape[0] == 1  # without augmentation one view serves every epoch


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "header_key", "no_header"])
def test_a_stale_or_damaged_cache_is_refilled_not_used(tmp_path, capsys, damage):
    splits, _ = make_splits()
    model = make_model()
    good = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    expected = np.array(good.table)
    header = good.path[: -len(".npy")] + ".json"
    del good
    if damage == "truncate":
        with open(expected_path := header[:-5] + ".npy", "r+b") as f:
            f.truncate(os.path.getsize(expected_path) - 100)
    elif damage == "flip_byte":
        with open(header[:-5] + ".npy", "r+b") as f:
            f.seek(-7, os.SEEK_END)
            byte = f.read(1)
            f.seek(-7, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "header_key":
        text = open(header).read().replace('"num_train": 40', '"num_train": 41')
        open(header, "w").write(text)
    else:
        os.remove(header)
    capsys.readouterr()
    again = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if line.startswith("[kdkeras]")]
    assert again.filled and len(said) == 3  # why it is not used, then the fill starting and done
    assert "not using the cache" in said[0] and "filling the cache" in said[1] and "filled the cache" in said[2]
    np.testing.assert_allclose(again.table, expected, atol=1e-6)


@pytest.mark.parametrize("verbose, view_lines, bar", [(0, 0, False), (1, 0, True), (2, 2, False)])
def test_the_fill_shows_its_progress_as_keras_verbose_says(tmp_path, capsys, verbose, view_lines, bar):
    splits, _ = make_splits()
    teacher_cache.open_or_fill(make_model(), splits, 2, str(tmp_path), batch_size=16, verbose=verbose)
    out = capsys.readouterr().out
    assert sum("[kdkeras] cache view" in line for line in out.splitlines()) == view_lines
    assert ("batch" in out.replace("[kdkeras]", "")) == bar  # Keras's Progbar counts batches


def test_a_fill_stopped_half_way_goes_on_from_its_next_view(tmp_path, capsys, monkeypatch):
    splits, _ = make_splits()
    model = make_model()
    whole = teacher_cache.open_or_fill(model, splits, 3, str(tmp_path / "whole"), batch_size=16)

    # Stopped (as a session's end or Ctrl-C stops it) while computing its third view.
    pipelines, real = [], teacher_cache.fixed_pipeline

    def stopping_in_view_3(batches):
        pipelines.append(batches)
        if len(pipelines) == 3:
            raise KeyboardInterrupt
        return real(batches)

    monkeypatch.setattr(teacher_cache, "fixed_pipeline", stopping_in_view_3)
    directory = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        teacher_cache.open_or_fill(model, splits, 3, str(directory), batch_size=16)
    assert not list(directory.glob("*[0-9a-f].npy")), "no finished table may appear before the fill ends"
    (progress_path,) = directory.glob("*.partial.json")
    progress = json.loads(progress_path.read_text())
    assert progress["views_done"] == 2 and progress["seconds"] > 0

    # Started again, it computes the third view only and gives the same table as the fill that never stopped.
    monkeypatch.setattr(teacher_cache, "fixed_pipeline", real)
    pipelines.clear()
    capsys.readouterr()
    resumed = teacher_cache.open_or_fill(model, splits, 3, str(directory), batch_size=16)
    assert "going on with the fill from view 3/3" in capsys.readouterr().out
    assert resumed.filled and resumed.seconds >= progress["seconds"]
    np.testing.assert_array_equal(resumed.table, whole.table)
    assert sorted(p.name.split(".", 1)[1] for p in directory.iterdir()) == ["json", "npy"]
    assert not teacher_cache.open_or_fill(model, splits, 3, str(directory), batch_size=16).filled


def test_an_interrupted_fill_of_another_table_is_not_continued(tmp_path, capsys):
    splits, _ = make_splits()
    model = make_model()
    npy_path, _ = teacher_cache._paths(str(tmp_path), teacher_cache.cache_key(model, splits))
    partial, progress_path = teacher_cache._partial_paths(npy_path)
    # A fill of 2 views stopped after one; this run needs 3 views, so the table starts afresh.
    np.save(partial, np.full((2, NUM_TRAIN, CLASSES), 7.0, np.float32))
    key = teacher_cache.cache_key(model, splits)
    with open(progress_path, "w") as f:
        json.dump({"key": key, "shape": [2, NUM_TRAIN, CLASSES], "views_done": 1, "seconds": 5.0}, f)
    cache = teacher_cache.open_or_fill(model, splits, 3, str(tmp_path), batch_size=16)
    assert "going on" not in capsys.readouterr().out and cache.seconds < 5.0
    assert not np.any(cache.table[:] == 7.0)
    assert not os.path.exists(progress_path) and not os.path.exists(partial)
