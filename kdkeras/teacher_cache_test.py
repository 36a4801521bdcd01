import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras import teacher_cache
from kdkeras.data.datasets import NUM_VIEWS, DatasetInfo, Splits, crop_flip, view_of

NUM_TRAIN, SIDE, CLASSES = 40, 8, 5


def make_splits(augment=True, seed=7, pixels_seed=0):
    rng = np.random.default_rng(pixels_seed)
    x = rng.uniform(0, 255, (NUM_TRAIN, SIDE, SIDE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, NUM_TRAIN).astype("int64")
    info = DatasetInfo("synthetic", (SIDE, SIDE, 3), CLASSES, NUM_TRAIN, 0)
    examples = tf.data.Dataset.from_tensor_slices((x, y))
    return Splits(
        train=None,
        test=None,
        info=info,
        train_examples=examples,
        batch_size=16,
        augment=augment,
        seed=seed,
        shuffle_buffer=NUM_TRAIN,
    ), x


def make_model(seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIDE, SIDE, 3))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(hidden)))


def numpy_view(image, view):
    """The view computed independently of `crop_flip`: pad, cut, flip."""
    side = 9
    dy, dx, flip = view // (2 * side), (view // 2) % side, view % 2
    padded = np.pad(image, [(4, 4), (4, 4), (0, 0)])
    crop = padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return crop[:, ::-1] if flip else crop


def epochs_of_batches(splits, cached, epochs):
    """Every batch of `epochs` epochs, as a run trains on them."""
    for epoch in range(epochs):
        yield epoch, list(splits.epoch_batches(epoch, cached))


def test_cached_logits_are_the_models_output_for_the_very_pixels_seen(tmp_path):
    splits, x = make_splits()
    model = make_model()
    cache = teacher_cache.open_or_fill(model, splits, 3, str(tmp_path), batch_size=16)
    assert cache.filled and cache.table.shape == (3, NUM_TRAIN, CLASSES) and cache.table.dtype == np.float32
    worst, views_by_epoch = 0.0, []
    for epoch, batches in epochs_of_batches(splits, {"teacher_logits": cache.table}, 3):
        seen = []
        for inputs, _ in batches:
            direct = model(inputs["images"], training=False).numpy()
            worst = max(worst, float(np.max(np.abs(inputs["teacher_logits"].numpy() - direct))))
            seen.append(inputs["images"].numpy())
        seen = np.concatenate(seen)
        # Every example once per epoch, as the independently computed view of it.
        expected = {numpy_view(x[i], int(view_of(splits.seed, epoch, i))).tobytes() for i in range(NUM_TRAIN)}
        assert {image.tobytes() for image in seen} == expected
        views_by_epoch.append([int(view_of(splits.seed, epoch, i)) for i in range(NUM_TRAIN)])
    print(f"max |cached - forward pass| = {worst:.3g}")
    assert worst <= 1e-5  # float32 storage: only batched-kernel rounding differs
    assert views_by_epoch[0] != views_by_epoch[1] != views_by_epoch[2]


def test_views_are_uniform_over_the_162_crops_and_flips():
    assert NUM_VIEWS == 162
    draw = tf.function(
        lambda: tf.map_fn(lambda i: view_of(3, 0, i), tf.range(16200, dtype=tf.int64), fn_output_signature=tf.int32)
    )
    views = draw().numpy()
    counts = np.bincount(views, minlength=NUM_VIEWS)
    assert counts.min() > 50 and counts.max() < 150  # 100 expected each
    image = np.arange(8 * 8 * 3, dtype="float32").reshape(8, 8, 3)
    for view in (0, 1, 17, 80, 161):
        np.testing.assert_array_equal(crop_flip(tf.constant(image), tf.constant(view)).numpy(), numpy_view(image, view))


def test_a_second_run_reuses_the_cache_and_more_epochs_refill_it(tmp_path, capsys):
    splits, _ = make_splits()
    model = make_model()
    first = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    again = teacher_cache.open_or_fill(model, splits, 2, str(tmp_path))
    fewer = teacher_cache.open_or_fill(model, splits, 1, str(tmp_path))
    assert first.filled and not again.filled and not fewer.filled
    np.testing.assert_array_equal(first.table, again.table)
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
