"""`python -m edge.paired`: two classifiers compared image by image on the same test images.

Two accuracies alone hide how much of their gap is noise: on 1,000 test
images one image is 0.1 point and a 95% interval around 88% is about ±2
points. But two models tested on the *same* images mostly get the same
images right; only the images where they disagree (the discordant pairs)
tell them apart. So a student is held against a reference (MLPerf Tiny's
int8 ResNet-8, say) paired: McNemar's exact test on the discordant counts,
and a bootstrap over the images of the accuracy difference, which keeps
each image's pair of outcomes together and so, when the two mostly agree,
is much narrower than two separate intervals.

`paired_comparison(correct_a, correct_b)` gives the statistics from two
per-image correctness arrays; `correct_per_image(path, test_data)` gives
such an array (and the labels) for a `.tflite` (LiteRT or TFLite Micro) or `.keras` file,
through `edge.benchmark`'s own inference.
"""

import contextlib
import math
import os

import numpy as np
from absl import app, flags

from edge.names import RUNTIMES
from kdkeras import errors
from kdkeras.io import write_json_atomic

CONFIDENCE = 0.95
# Resampled indices held at once (8 MB, and as much for the values they pick): 10,000 resamples of 1,000
# images go in ten chunks.
_INDICES_PER_CHUNK = 1_000_000


def _mcnemar_exact_p(b, c):
    """Two-sided exact McNemar p: `b` successes of `b + c` fair coin flips, doubled, capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def _bootstrap_interval(differences, resamples, seed, confidence):
    """Percentile interval of the mean of `differences` over resamples of the images with replacement."""
    n = len(differences)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, _INDICES_PER_CHUNK // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = differences[indices].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _as_correctness(values, name):
    array = np.asarray(values)
    errors.check(array.ndim == 1, f"{name}: expected a 1-D array of per-image correctness, got shape {array.shape}")
    errors.check(
        array.size == 0
        or array.dtype == np.bool_
        or (np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all()),
        f"{name}: expected booleans (or 0/1), one per image, got {array.dtype}",
    )
    return array.astype(bool)


def paired_comparison(correct_a, correct_b, resamples=10_000, seed=0, confidence=CONFIDENCE):
    """Paired statistics of two classifiers on the same test images, in the same order.

    Args:
        correct_a: booleans, whether model A got each image right.
        correct_b: the same for model B, image for image.
        resamples: bootstrap resamples of the images.
        seed: the bootstrap's seed (the same seed gives the same interval).
        confidence: the interval's coverage.

    Example:

    ```python
    paired_comparison([True, True, False, True], [True, False, False, False])["difference"]  # 0.5
    ```

    Returns:
        A dict: `num_test`, `accuracy_a`, `accuracy_b`, `difference`
        (`accuracy_a - accuracy_b`), `interval` (`[low, high]`: percentile
        bootstrap interval of the difference, resampling images with
        replacement), `confidence`, `resamples`, `seed`, `a_right_b_wrong`
        (b), `a_wrong_b_right` (c) and `mcnemar_p` (exact two-sided
        McNemar: a binomial test of b successes in b + c trials at p = 1/2).

    Raises:
        kdkeras.errors.UsageError: arrays of different lengths, empty, or not booleans.
    """
    a = _as_correctness(correct_a, "correct_a")
    b_correct = _as_correctness(correct_b, "correct_b")
    errors.check(
        len(a) == len(b_correct),
        f"correct_a has {len(a)} images but correct_b {len(b_correct)}: expected the same images in the same order",
    )
    errors.check(len(a) > 0, "correct_a and correct_b: expected at least one image")
    errors.check(resamples >= 1, f"resamples={resamples}: expected at least 1")
    errors.check(0 < confidence < 1, f"confidence={confidence}: expected a share between 0 and 1")
    b = int(np.sum(a & ~b_correct))
    c = int(np.sum(~a & b_correct))
    differences = a.astype(np.float64) - b_correct.astype(np.float64)
    low, high = _bootstrap_interval(differences, resamples, seed, confidence)
    return {
        "num_test": len(a),
        "accuracy_a": float(np.mean(a)),
        "accuracy_b": float(np.mean(b_correct)),
        "difference": float(np.mean(differences)),
        "interval": [low, high],
        "confidence": float(confidence),
        "resamples": int(resamples),
        "seed": int(seed),
        "a_right_b_wrong": b,
        "a_wrong_b_right": c,
        "mcnemar_p": _mcnemar_exact_p(b, c),
    }


def correct_per_image(path, test_data, runtime="litert", dataset_info=None):
    """Whether a model file gets each test image right, in the split's order.

    Args:
        path: a `.tflite` file (raw 0-255 pixels in) or a `.keras` file (runs in Keras).
        test_data: batched `(pixels, label)` test pipeline, e.g. `kdkeras.data.load(...).test`.
        runtime: for a `.tflite` file, `litert` or `tflm` (TFLite Micro).
        dataset_info: a `kdkeras.data.DatasetInfo` the model must fit, or `None`.

    Returns:
        `(correct, labels)`: a boolean array and the labels, one entry per image.

    Raises:
        kdkeras.errors.UsageError: as `edge.benchmark.top1_predictions`.
    """
    from edge.benchmark import top1_predictions

    predicted, labels = top1_predictions(path, test_data, runtime=runtime, dataset_info=dataset_info)
    return predicted == labels, labels


@contextlib.contextmanager
def _naming_model(flag):
    """edge's functions name a file as `--model=`; this command has two, so an error names the one it is about."""
    try:
        yield
    except errors.UsageError as error:
        raise errors.UsageError(str(error).replace("--model=", f"{flag}=")) from None


FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
    """The command's flags (in `flag_values`: a test gives its own)."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string("model_a", None, "model A: a .tflite or .keras file", **define)
    flags.DEFINE_string("model_b", None, "model B: a .tflite or .keras file, tested on the same images", **define)
    flags.DEFINE_string(
        "dataset", None, "test data: mnist_sample, mnist, cifar10, cifar100 or imagefolder:PATH", **define
    )
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory", **define)
    flags.DEFINE_enum(
        "runtime", "litert", RUNTIMES, "the runtime of .tflite files: litert, or tflm (TFLite Micro)", **define
    )
    flags.DEFINE_integer("resamples", 10_000, "bootstrap resamples of the test images", **define)
    flags.DEFINE_integer("seed", 0, "the bootstrap's seed", **define)
    flags.DEFINE_string("output", None, "JSON file for the statistics (written atomically)", **define)


def summary_line(result):
    """One line: both accuracies, the difference and its interval, the discordant counts and McNemar's p."""
    low, high = result["interval"]
    return (
        f"A {result['model_a']} {result['accuracy_a']:.4f}, B {result['model_b']} {result['accuracy_b']:.4f} "
        f"on {result['num_test']} {result['dataset']} test images ({result['runtime']}): "
        f"A-B {result['difference']:+.4f}, {result['confidence']:.0%} bootstrap interval [{low:+.4f}, {high:+.4f}]; "
        f"A right B wrong {result['a_right_b_wrong']}, A wrong B right {result['a_wrong_b_right']}; "
        f"McNemar exact p {result['mcnemar_p']:.4f}"
    )


def main(argv):
    """Runs `--model_a` and `--model_b` on `--dataset`'s test split, prints one line, writes `--output`."""
    from kdkeras import cli, data  # cli: a command's words for errors; the module is also a library

    errors.check(len(argv) == 1, f"unexpected arguments: {' '.join(argv[1:])}")
    for flag, path in (("--model_a", FLAGS.model_a), ("--model_b", FLAGS.model_b)):
        errors.check(bool(path), f"{flag}: required (a .tflite or .keras file)")
        errors.check(os.path.isfile(path), f"{flag}={path}: no such file (expected a .tflite or .keras file)")
    errors.check(bool(FLAGS.dataset), "--dataset: required (the test split both models run on)")
    errors.check(FLAGS.resamples >= 1, f"--resamples={FLAGS.resamples}: expected at least 1")
    with cli.naming_flag("--dataset", FLAGS.dataset):
        splits = data.load(FLAGS.dataset, batch_size=128, data_dir=FLAGS.data_dir)
    with _naming_model("--model_a"):
        correct_a, labels_a = correct_per_image(FLAGS.model_a, splits.test, FLAGS.runtime, splits.info)
    with _naming_model("--model_b"):
        correct_b, labels_b = correct_per_image(FLAGS.model_b, splits.test, FLAGS.runtime, splits.info)
    # The split is read in a fixed order; a mismatch would mean the two runs saw different images.
    if not np.array_equal(labels_a, labels_b):
        raise RuntimeError("the test split gave the two models different labels: not the same images in order")
    result = {
        "model_a": FLAGS.model_a,
        "model_b": FLAGS.model_b,
        "dataset": FLAGS.dataset,
        "runtime": FLAGS.runtime,
    }
    result.update(paired_comparison(correct_a, correct_b, FLAGS.resamples, FLAGS.seed))
    # Positions in the split's order of the images the two disagree on, to look at them.
    result["images_a_right_b_wrong"] = np.flatnonzero(correct_a & ~correct_b).tolist()
    result["images_a_wrong_b_right"] = np.flatnonzero(~correct_a & correct_b).tolist()
    if FLAGS.output:
        write_json_atomic(FLAGS.output, result)
    print(summary_line(result))


if __name__ == "__main__":
    from kdkeras import cli

    define_flags()
    app.run(cli.run(main), flags_parser=cli.parse_flags)
