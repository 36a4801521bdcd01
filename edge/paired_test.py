"""The paired statistics against values worked out by hand, per-image correctness, and the command."""

import json
import math

import numpy as np
import pytest

from edge.paired import correct_per_image, paired_comparison
from kdkeras.errors import UsageError


def _pairs(both_right=0, a_only=0, b_only=0, both_wrong=0):
    """Correctness arrays with the four kinds of image in these numbers."""
    a = [True] * both_right + [True] * a_only + [False] * b_only + [False] * both_wrong
    b = [True] * both_right + [False] * a_only + [True] * b_only + [False] * both_wrong
    return np.array(a), np.array(b)


def test_counts_accuracies_and_exact_mcnemar_by_hand():
    a, b = _pairs(both_right=50, a_only=3, b_only=12, both_wrong=5)
    result = paired_comparison(a, b)
    assert result["num_test"] == 70
    assert result["a_right_b_wrong"] == 3 and result["a_wrong_b_right"] == 12
    assert result["accuracy_a"] == pytest.approx(53 / 70) and result["accuracy_b"] == pytest.approx(62 / 70)
    assert result["difference"] == pytest.approx(-9 / 70)
    # 2 * (C(15,0) + C(15,1) + C(15,2) + C(15,3)) / 2^15 = 2 * (1 + 15 + 105 + 455) / 32768
    assert result["mcnemar_p"] == pytest.approx(1152 / 32768, rel=1e-12)
    swapped = paired_comparison(b, a)
    assert swapped["mcnemar_p"] == result["mcnemar_p"] and swapped["difference"] == pytest.approx(9 / 70)
    assert (swapped["a_right_b_wrong"], swapped["a_wrong_b_right"]) == (12, 3)


def test_balanced_discordance_gives_p_one():
    # 2 * (1 + 10 + 45 + 120 + 210 + 252) / 1024 = 1276 / 1024, above 1: capped
    assert paired_comparison(*_pairs(both_right=7, a_only=5, b_only=5))["mcnemar_p"] == 1.0


def test_identical_models():
    correct = np.array([True, False, True, True, False, True])
    result = paired_comparison(correct, correct.copy())
    assert result["difference"] == 0 and result["mcnemar_p"] == 1.0
    assert result["interval"] == [0.0, 0.0]
    assert result["a_right_b_wrong"] == result["a_wrong_b_right"] == 0


def test_bootstrap_interval_of_a_known_case():
    # Differences per image: 30 of +1, 10 of -1, 960 of 0: mean 0.02, variance 40/1000 - 0.02^2 = 0.0396,
    # so the normal approximation of the 95% interval is 0.02 +- 1.96 * sqrt(0.0396 / 1000) = [0.00767, 0.03233].
    result = paired_comparison(*_pairs(both_right=900, a_only=30, b_only=10, both_wrong=60))
    half_width = 1.96 * math.sqrt(0.0396 / 1000)
    assert result["interval"][0] == pytest.approx(0.02 - half_width, abs=0.002)
    assert result["interval"][1] == pytest.approx(0.02 + half_width, abs=0.002)
    assert result["interval"] == paired_comparison(*_pairs(900, 30, 10, 60), seed=0)["interval"]  # seeded
    # Two images, differences +1 and 0: a resample's mean is 0, 1/2 or 1 with chances 1/4, 1/2, 1/4.
    assert paired_comparison([True, False], [False, False])["interval"] == [0.0, 1.0]


def test_rejects_unpaired_or_non_boolean_input():
    with pytest.raises(UsageError, match="same images"):
        paired_comparison([True, False], [True])
    with pytest.raises(UsageError, match="booleans"):
        paired_comparison([0.5, 1.0], [True, False])
    with pytest.raises(UsageError, match="at least one"):
        paired_comparison([], [])


@pytest.fixture(scope="module")
def two_models(splits, tmp_path_factory):
    """Two linear classifiers of 28x28x1 pixels with small integer weights (float sums exact in any order):
    A as a float32 `.tflite` file, B as a `.keras` file, and both weights."""
    import keras

    from edge import export_tflite

    folder = tmp_path_factory.mktemp("paired")
    rng = np.random.default_rng(0)
    weights, paths = [], []
    for name in ("a", "b"):
        w = rng.integers(-3, 4, size=(784, 10)).astype("float32")
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.layers[-1].set_weights([w, np.zeros(10, "float32")])
        if name == "a":
            path = export_tflite(model, "float32", str(folder / "a.tflite"))["path"]
        else:
            path = str(folder / "b.keras")
            model.save(path)
        weights.append(w)
        paths.append(path)
    return paths, weights


def _expected_correct(splits, w):
    pixels, labels = zip(*[(p.numpy(), y.numpy()) for p, y in splits.test])
    return np.argmax(np.concatenate(pixels).reshape(-1, 784) @ w, axis=1) == np.concatenate(labels)


def test_correct_per_image_in_each_runtime(two_models, splits):
    (tflite_path, keras_path), (w_a, w_b) = two_models
    for runtime in ("litert", "tflm"):
        correct, labels = correct_per_image(tflite_path, splits.test, runtime, splits.info)
        assert correct.dtype == bool and len(correct) == splits.info.num_test
        np.testing.assert_array_equal(correct, _expected_correct(splits, w_a))
    correct, _ = correct_per_image(keras_path, splits.test, dataset_info=splits.info)
    np.testing.assert_array_equal(correct, _expected_correct(splits, w_b))


def _run_command(monkeypatch, *args):
    """`python -m edge.paired` in this process (flags of its own, so nothing global is redefined)."""
    from absl import flags

    from edge import paired
    from kdkeras import cli

    flag_values = flags.FlagValues()
    paired.define_flags(flag_values)
    flag_values(["edge.paired", *args])
    monkeypatch.setattr(paired, "FLAGS", flag_values)
    cli.run(paired.main)(["edge.paired"])


def test_command_prints_one_line_and_writes_json(two_models, splits, tmp_path, monkeypatch, capsys):
    (tflite_path, keras_path), (w_a, w_b) = two_models
    output = tmp_path / "paired.json"
    _run_command(
        monkeypatch,
        f"--model_a={tflite_path}",
        f"--model_b={keras_path}",
        "--dataset=mnist_sample",
        f"--output={output}",
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "McNemar exact p" in lines[0] and "bootstrap interval" in lines[0]
    written = json.loads(output.read_text())
    expected = paired_comparison(_expected_correct(splits, w_a), _expected_correct(splits, w_b))
    assert {key: written[key] for key in expected} == expected
    assert written["model_a"] == tflite_path and written["runtime"] == "litert"
    assert len(written["images_a_right_b_wrong"]) == expected["a_right_b_wrong"]


def test_command_names_the_flag_of_a_bad_file(two_models, tmp_path, monkeypatch, capsys):
    (tflite_path, keras_path), _ = two_models
    with pytest.raises(SystemExit) as stopped:
        _run_command(monkeypatch, f"--model_a={tflite_path}", "--model_b=missing.tflite", "--dataset=mnist_sample")
    assert stopped.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["error: --model_b=missing.tflite: no such file (expected a .tflite or .keras file)"]

    not_a_model = tmp_path / "text.tflite"
    not_a_model.write_text("not a model")
    with pytest.raises(SystemExit) as stopped:
        _run_command(monkeypatch, f"--model_a={not_a_model}", f"--model_b={keras_path}", "--dataset=mnist_sample")
    assert stopped.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: --model_a={not_a_model}: not a TFLite model")
