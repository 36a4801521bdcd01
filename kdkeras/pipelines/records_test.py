import csv

import keras
import numpy as np
import tensorflow as tf

from kdkeras.pipelines import records


def write_history(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_history_lists_each_epoch_once_in_order_the_resumed_one_as_last_logged(tmp_path):
    path = str(tmp_path / "student_history.csv")
    assert records.epoch_history(path) == []
    write_history(
        path,
        [
            {"epoch": "0", "loss": "2.0"},
            {"epoch": "1", "loss": "1.5"},  # the run was killed after this line, in epoch 2
            {"epoch": "1", "loss": "1.4"},  # and resumed from the backup before epoch 1 ended
            {"epoch": "10", "loss": "0.5"},
            {"epoch": "2", "loss": "1.0"},
        ],
    )
    rows = records.epoch_history(path)
    assert [(r["epoch"], r["loss"]) for r in rows] == [("0", "2.0"), ("1", "1.4"), ("2", "1.0"), ("10", "0.5")]


def test_images_trained_add_the_step2_images_or_older_histories_step2_examples_to_the_epochs():
    # WSKD logs the images its second update really runs on; older histories only the errors it learned from.
    new = [{"epoch": "0", "step2_images": "120.0", "step2_examples": "30.0"}, {"epoch": "1", "step2_images": "64"}]
    old = [{"epoch": "0", "step2_examples": "30.0"}, {"epoch": "1", "step2_examples": "12"}]
    resumed_across = [old[0], new[1]]
    assert records.images_trained(2, 1000, new) == 2 * 1000 + 120 + 64
    assert records.images_trained(2, 1000, old) == 2 * 1000 + 30 + 12
    assert records.images_trained(2, 1000, resumed_across) == 2 * 1000 + 30 + 64
    assert records.images_trained(3, 1000, [{"epoch": "0", "loss": "1.0"}]) == 3000
    assert records.images_trained(3, 1000, []) == 3000


def test_frozen_networks_run_forward_every_epoch_unless_cached():
    assert records.frozen_forward_images(["teacher", "stage1"], 4, 500, cached=False) == {
        "teacher": 2000,
        "stage1": 2000,
    }
    assert records.frozen_forward_images(["teacher"], 4, 500, cached=True) == {"teacher": 0}
    caches = [{"source": "teacher", "cache": "abc", "views": 3, "seconds": 1.0, "bytes": 10}]
    assert records.cache_fills(caches, 500) == [{"model": "teacher", "key": "abc", "images": 1500}]


def test_accuracy_and_the_record_of_a_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)], name="tiny")
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0], [3.0, -1.0]], dtype="float32")
    y = np.array([0, 1, 2, 1, 0])
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    expected = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))
    assert records.accuracy(model, test) == expected
    record = records.model_record("student", model, test, 12.34567, 3, {"state": "started"}, {"trained_by": "labels"})
    assert record == {
        "role": "student",
        "arch": "tiny",
        "params": 2 * 3 + 3,
        "flops": record["flops"],
        "test_accuracy": expected,
        "train_seconds": 12.346,
        "epochs": 3,
        "resumption": {"state": "started"},
        "trained_by": "labels",
    }
    assert record["flops"] > 0
    assert "resumption" not in records.model_record("teacher", model, test, 0.0, 0)


def test_evaluate_gives_the_accuracy_and_the_mean_cross_entropy_of_the_logits():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0], [3.0, -1.0]], dtype="float32")
    y = np.array([0, 1, 2, 1, 0])
    logits = model.predict(x, verbose=0).astype("float64")
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    accuracy, loss = records.evaluate(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2))
    assert accuracy == float(np.mean(np.argmax(logits, axis=-1) == y))
    np.testing.assert_allclose(loss, -np.mean(log_probabilities[np.arange(5), y]), rtol=1e-6)


def test_a_history_row_with_new_metrics_adds_their_columns_and_keeps_every_value_under_its_header(tmp_path):
    path = str(tmp_path / "student_history.csv")
    records.append_epoch(path, 0, {"loss": 2.0, "accuracy": 0.5, "train_seconds": 1.5})
    with open(path) as f:
        assert f.read() == "epoch,accuracy,loss,train_seconds\n0,0.5,2.0,1.5\n"
    # A history Keras's CSVLogger wrote (with its empty val_ columns), resumed with --test_every_epoch.
    write_history(path, [{"epoch": "0", "accuracy": "0.5", "loss": "2.0", "val_accuracy": "NA", "val_loss": "NA"}])
    records.append_epoch(path, 1, {"accuracy": 0.6, "loss": 1.5, "test_accuracy": 0.7, "test_loss": 1.2})
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines == [
        ["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "test_accuracy", "test_loss"],
        ["0", "0.5", "2.0", "NA", "NA", "NA", "NA"],
        ["1", "0.6", "1.5", "NA", "NA", "0.7", "1.2"],
    ]
    assert [r["test_accuracy"] for r in records.epoch_history(path)] == ["NA", "0.7"]


def test_models_csv_has_one_row_per_record_in_its_columns(tmp_path):
    rows = [
        {"role": "teacher", "arch": "resnet26", "params": 10, "flops": 20, "test_accuracy": 0.9, "train_seconds": 1.5,
         "epochs": 2, "model_key": "k"},
        {"role": "student", "arch": "resnet8", "params": 1, "flops": 2, "test_accuracy": 0.8, "train_seconds": 0.5,
         "epochs": 2},
    ]  # fmt: skip
    path = str(tmp_path / "models.csv")
    records.write_models_csv(path, rows)
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == list(records.CSV_COLUMNS)
    assert lines[1:] == [
        ["teacher", "resnet26", "10", "20", "0.9", "1.5", "2"],
        ["student", "resnet8", "1", "2", "0.8", "0.5", "2"],
    ]
