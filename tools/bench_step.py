"""Per-epoch training cost of distillation, as ratios to the student alone.

Measures, in one process and interleaved (round after round, so drifts in
machine load hit every variant alike), the seconds per epoch of:

- `student`: the student alone, Keras `fit` with cross-entropy;
- `blkd`: baseline KD running the teacher at every step;
- `blkd_cached`: baseline KD from teacher logits computed once;
- `wskd_cached`: WSKD (two updates per batch) from cached logits;
- `student_aug`, `blkd_aug`, `blkd_aug_cached`: the same with `--augment`
  (pad-4 crop + flip), BLKD with the teacher every step and from the exact
  teacher cache (`kdkeras.teacher_cache`, filled for `--rounds` epochs
  before timing: its fill rate, in teacher images per second, and its size
  in bytes are printed);

for a ResNet26 teacher and a ResNet8 student on 32x32x3 images, by default
the first `--num_images` training images of the CIFAR-10 JPEG copy. The
teacher is untrained: cost does not depend on its weights, except WSKD's step
2, which runs on every batch that holds a teacher error (as it does for any
teacher below ~99% accuracy at batch 128).

    python tools/bench_step.py --data=../shared/datasets/cifar10-jpeg.tar.gz

Prints one line per variant (median seconds per epoch, ratio to `student`)
and writes the same as JSON to `--output` when given. A benchmark, not a
test: its target (cached BLKD within 1.10x of the student alone) is checked
by reading its output.
"""

import os
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cifar_jpeg import augmented_splits, check_data_flags, define_data_flags, read_images  # noqa: E402  (tools/, beside this script)

from kdkeras import cli, errors  # noqa: E402

define_data_flags(num_images=10_000)
flags.DEFINE_integer("rounds", 3, "interleaved rounds; one epoch of every variant per round")
flags.DEFINE_string("teacher", "resnet26", "teacher architecture")
flags.DEFINE_string("student", "resnet8", "student architecture")
flags.DEFINE_string("output", None, "JSON file for the measurements")
FLAGS = flags.FLAGS

VARIANTS = ("student", "blkd", "blkd_cached", "wskd_cached", "student_aug", "blkd_aug", "blkd_aug_cached")
AUGMENTED_BASE = "student_aug"


def build_variants(x, y, teacher_arch, student_arch, batch_size):
    """One `(model, dataset)` per variant, each with a fresh student."""
    import keras
    import tensorflow as tf

    import kdkeras
    from kdkeras import models
    from kdkeras.data.datasets import fixed_pipeline

    num_classes = 10
    shape = x.shape[1:]
    teacher = models.get(teacher_arch, shape, num_classes)
    pixels = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y)).cache()
    logits = teacher.predict(pixels.batch(256), verbose=0)
    plain = fixed_pipeline(pixels.shuffle(len(y), seed=0).batch(batch_size))
    cached = fixed_pipeline(
        tf.data.Dataset.from_tensor_slices(({"images": x.astype("float32"), "teacher_logits": logits}, y))
        .cache()
        .shuffle(len(y), seed=0)
        .batch(batch_size)
    )

    def student():
        return models.get(student_arch, shape, num_classes)

    def sgd():
        return keras.optimizers.SGD(0.05, momentum=0.9)

    alone = student()
    alone.compile(sgd(), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    variants = {"student": (alone, lambda epoch: plain)}
    for name, make, data in (
        ("blkd", lambda: kdkeras.Distiller(student(), teacher), plain),
        ("blkd_cached", lambda: kdkeras.Distiller(student(), teacher), cached),
        ("wskd_cached", lambda: kdkeras.WiseStudentDistiller(student(), teacher), cached),
    ):
        model = make()
        model.compile(optimizer=sgd(), metrics=["accuracy"])
        variants[name] = (model, lambda epoch, data=data: data)
    return variants, teacher, student, sgd


def add_augmented(variants, x, y, teacher, student, sgd, batch_size, epochs, cache_dir):
    """The `--augment` variants; returns the cache's fill facts."""
    import keras

    import kdkeras
    from kdkeras import teacher_cache

    splits = augmented_splits(x, y, batch_size)
    cache = teacher_cache.open_or_fill(teacher, splits, epochs, cache_dir)
    alone = student()
    alone.compile(sgd(), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    variants["student_aug"] = (alone, splits.epoch_batches)
    blkd = kdkeras.Distiller(student(), teacher)
    blkd.compile(optimizer=sgd(), metrics=["accuracy"])
    variants["blkd_aug"] = (blkd, splits.epoch_batches)
    cached = kdkeras.Distiller(student(), teacher)
    cached.compile(optimizer=sgd(), metrics=["accuracy"])
    variants["blkd_aug_cached"] = (cached, lambda epoch: splits.epoch_batches(epoch, {"teacher_logits": cache.table}))
    return {
        "fill_seconds": cache.seconds,
        "fill_images": epochs * len(y),
        "fill_images_per_second": epochs * len(y) / max(cache.seconds, 1e-9),
        "bytes": cache.bytes,
    }


@cli.run
def main(argv):
    check_data_flags()
    errors.check(FLAGS.rounds >= 1, f"--rounds={FLAGS.rounds}: expected >= 1")
    x, y = read_images(FLAGS.data, FLAGS.num_images)
    import tempfile

    variants, teacher, student, sgd = build_variants(x, y, FLAGS.teacher, FLAGS.student, FLAGS.batch_size)
    with tempfile.TemporaryDirectory() as cache_dir:
        fill = add_augmented(variants, x, y, teacher, student, sgd, FLAGS.batch_size, FLAGS.rounds, cache_dir)
        seconds = time_variants(variants)
    print(
        f"teacher cache fill: {fill['fill_images']} images in {fill['fill_seconds']:.1f} s = "
        f"{fill['fill_images_per_second']:.0f} images/s of teacher inference; {fill['bytes']} bytes"
    )
    report(seconds, len(y), fill)


def time_variants(variants):
    """Median-ready seconds per epoch of every variant, interleaved round after round."""
    for model, batches_of in variants.values():
        model.fit(batches_of(0).take(2), epochs=1, verbose=0)  # trace and warm up
    seconds = {name: [] for name in VARIANTS}
    for round_index in range(FLAGS.rounds):
        for name in VARIANTS:
            model, batches_of = variants[name]
            start = time.perf_counter()
            # Round r is epoch r of every variant: its views, and the cache's rows of them.
            model.fit(batches_of(round_index), epochs=1, verbose=0)
            seconds[name].append(time.perf_counter() - start)
            print(f"round {round_index + 1}/{FLAGS.rounds} {name}: {seconds[name][-1]:.2f} s", flush=True)
    return seconds


def report(seconds, images, fill):
    """Prints each variant's ratio to the student alone (augmented ones to the augmented student)."""
    facts = {
        "images_per_epoch": int(images),
        "teacher": FLAGS.teacher,
        "student": FLAGS.student,
        "batch_size": FLAGS.batch_size,
        "teacher_cache_fill": fill,
        "variants": {},
    }
    for name, s in seconds.items():
        base = statistics.median(seconds[AUGMENTED_BASE if name.endswith(("_aug", "_aug_cached")) else "student"])
        facts["variants"][name] = {
            "median_seconds": statistics.median(s),
            "seconds": s,
            "ratio_to_student": statistics.median(s) / base,
        }
    for name, entry in facts["variants"].items():
        alone = "student alone with --augment" if name.endswith(("_aug", "_aug_cached")) else "student alone"
        print(f"{name:16s} {entry['median_seconds']:7.2f} s/epoch  {entry['ratio_to_student']:.2f}x {alone}")
    if FLAGS.output:
        from kdkeras.io import write_json_atomic

        write_json_atomic(FLAGS.output, facts)


if __name__ == "__main__":
    cli.quiet_tensorflow_logs()
    app.run(main, flags_parser=cli.parse_flags)
