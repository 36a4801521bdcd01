"""Per-epoch training cost of distillation: measured time beside the work `kdkeras.accounting` counts.

Measures, in one process and interleaved (round after round, so drifts in
machine load hit every variant alike), the seconds per epoch of:

- `student`: the student alone, Keras `fit` with cross-entropy;
- `blkd`: baseline KD running the teacher at every step;
- `blkd_cached`: baseline KD from teacher logits computed once;
- `wskd_cached_batch`, `wskd_cached_misclassified`: WSKD from the cached
  logits, step 2 forwarding the whole batch or the teacher's errors alone
  (`step2_forward`);
- `student_aug`, `blkd_aug`, `blkd_aug_cached`, `wskd_aug_cached_batch`,
  `wskd_aug_cached_misclassified`: the same with augmentation (pad-4 crop +
  flip), as the study trains: BLKD with the teacher every step, and BLKD
  and WSKD from the exact teacher cache (`kdkeras.teacher_cache`, filled
  for `--rounds` epochs before timing: its fill rate, in teacher images per
  second, and its size in bytes are printed);
- `wskd_aug_cached_own_statistics`: WSKD from the cache, step 2 on the
  teacher's errors alone in training mode (their own batch statistics);
- `dkd_aug_cached`, `blkd_ls_aug_cached`, `dist_aug_cached`: DKD, BLKD with
  logit standardization and DIST from the cache (the study's rows);
  `fitnets_aug`: FitNets, whose teacher runs at every step for its features;

for a ResNet26 teacher and a ResNet8 student on 32x32x3 images, by default
the first `--num_images` training images of the CIFAR-10 JPEG copy.

Cost does not depend on the teacher's weights, except WSKD's step 2, which
follows the teacher's errors. So WSKD learns from logits wrong on a
`--teacher_error_rate` fraction of the examples (default 0.083: the
CIFAR-10 study's ResNet26 teacher on its augmented training views, about
4,150 of 50,000 per epoch), drawn at random with seed 0 for each view; with
`--teacher_error_rate=-1` it learns from the teacher's own logits (load a
trained one with `--teacher_checkpoint`; an untrained teacher is wrong on
about 90%).

Each variant's counted work is `kdkeras.accounting`'s FLOPs for one epoch
of it, from the images it really computed (WSKD's `step2_images` from its
log), and each line gives the time and the counted work as ratios to BLKD
from the cache (`blkd_cached`, or `blkd_aug_cached` for the augmented
variants), and whether they agree within `--work_tolerance`.

    python tools/bench_step.py --data=../shared/datasets/cifar10-jpeg.tar.gz

Prints one line per variant and writes the same as JSON to `--output` when
given. A benchmark, not a test: its targets (cached BLKD within 1.10x of the
student alone; WSKD from the cache with the misclassified-only step 2 within
1.20x of BLKD from the cache; counted work within 15% of measured time) are
checked by reading its output.
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
flags.DEFINE_string("teacher_checkpoint", None, "a trained teacher (.keras) instead of an untrained --teacher")
flags.DEFINE_string("student", "resnet8", "student architecture")
flags.DEFINE_float(
    "teacher_error_rate",
    0.083,
    "fraction of examples on which WSKD's cached logits are wrong (-1: the teacher's own logits)",
)
flags.DEFINE_list("variants", None, "the variants to time (default: all)")
flags.DEFINE_float("work_tolerance", 0.15, "largest relative gap between time ratio and counted work ratio")
flags.DEFINE_string("output", None, "JSON file for the measurements")
FLAGS = flags.FLAGS

VARIANTS = (
    "student",
    "blkd",
    "blkd_cached",
    "wskd_cached_batch",
    "wskd_cached_misclassified",
    "student_aug",
    "blkd_aug",
    "blkd_aug_cached",
    "wskd_aug_cached_batch",
    "wskd_aug_cached_misclassified",
    "wskd_aug_cached_own_statistics",
    "dkd_aug_cached",
    "blkd_ls_aug_cached",
    "dist_aug_cached",
    "fitnets_aug",
)
TEACHER_EVERY_STEP = frozenset({"blkd", "blkd_aug", "fitnets_aug"})
AUGMENTED = frozenset(name for name in VARIANTS if "_aug" in name)
NUM_CLASSES = 10


def is_augmented(name):
    return name in AUGMENTED


def base_of(name):
    """The variant a variant's time is compared with: the student alone, with or without augmentation."""
    return "student_aug" if is_augmented(name) else "student"


def blkd_of(name):
    """The variant a variant's time and counted work are compared with: BLKD from the cache."""
    return "blkd_aug_cached" if is_augmented(name) else "blkd_cached"


def wrong_logits(labels, error_rate, seed):
    """Logits whose argmax is wrong on about `error_rate` of the examples, at random (seed `seed`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    wrong = rng.random(len(labels)) < error_rate
    given = np.where(wrong, (labels + rng.integers(1, NUM_CLASSES, len(labels))) % NUM_CLASSES, labels)
    return (rng.normal(size=(len(labels), NUM_CLASSES)) + 6.0 * np.eye(NUM_CLASSES)[given]).astype("float32")


def wskd_table(own_table, labels, error_rate):
    """WSKD's cached logits: `[views, examples, classes]`, each view's errors drawn afresh, or the teacher's own."""
    import numpy as np

    if error_rate < 0:
        return own_table
    return np.stack([wrong_logits(labels, error_rate, view) for view in range(own_table.shape[0])])


def make_teacher(shape):
    from kdkeras import models

    if FLAGS.teacher_checkpoint:
        import keras

        return keras.saving.load_model(FLAGS.teacher_checkpoint)
    return models.get(FLAGS.teacher, shape, NUM_CLASSES)


def build_variants(x, y, teacher, wanted, batch_size, cache_dir):
    """`{name: (model, batches_of_epoch)}` of the `wanted` variants, each with a fresh student; and the cache fill."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kdkeras
    from kdkeras import models, teacher_cache
    from kdkeras.data.datasets import fixed_pipeline

    shape = x.shape[1:]

    def student():
        return models.get(FLAGS.student, shape, NUM_CLASSES)

    def compiled(model):
        if isinstance(model, kdkeras.Distiller):
            model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
        else:
            model.compile(
                keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
        return model

    def wskd(forward):
        return kdkeras.WiseStudentDistiller(student(), teacher, step2_forward=forward)

    variants = {}
    pixels = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y)).cache()
    plain = fixed_pipeline(pixels.shuffle(len(y), seed=0).batch(batch_size))

    def plain_cached(logits):
        return fixed_pipeline(
            tf.data.Dataset.from_tensor_slices(({"images": x.astype("float32"), "teacher_logits": logits}, y))
            .cache()
            .shuffle(len(y), seed=0)
            .batch(batch_size)
        )

    cached = wise = None  # the datasets of teacher logits, made only for the variants that read them
    if {"blkd_cached", "wskd_cached_batch", "wskd_cached_misclassified"} & set(wanted):
        own = teacher.predict(pixels.batch(256), verbose=0)
        cached = plain_cached(own)
        wise = plain_cached(wskd_table(own[None], y, FLAGS.teacher_error_rate)[0])
    makers = {
        "student": (lambda: compiled(student()), lambda epoch: plain),
        "blkd": (lambda: compiled(kdkeras.Distiller(student(), teacher)), lambda epoch: plain),
        "blkd_cached": (lambda: compiled(kdkeras.Distiller(student(), teacher)), lambda epoch: cached),
        "wskd_cached_batch": (lambda: compiled(wskd("batch")), lambda epoch: wise),
        "wskd_cached_misclassified": (lambda: compiled(wskd("misclassified")), lambda epoch: wise),
    }
    fill = None
    if any(is_augmented(name) for name in wanted):
        splits = augmented_splits(x, y, batch_size)
        cache = teacher_cache.open_or_fill(teacher, splits, FLAGS.rounds, cache_dir)
        fill = {
            "fill_seconds": cache.seconds,
            "fill_images": FLAGS.rounds * len(y),
            "fill_images_per_second": FLAGS.rounds * len(y) / max(cache.seconds, 1e-9),
            "bytes": cache.bytes,
        }
        table = np.asarray(cache.table)
        wise_table = wskd_table(table, y, FLAGS.teacher_error_rate)

        def from_cache(logits):
            return lambda epoch: splits.epoch_batches(epoch, {"teacher_logits": logits})

        makers.update(
            {
                "student_aug": (lambda: compiled(student()), splits.epoch_batches),
                "blkd_aug": (lambda: compiled(kdkeras.Distiller(student(), teacher)), splits.epoch_batches),
                "blkd_aug_cached": (lambda: compiled(kdkeras.Distiller(student(), teacher)), from_cache(table)),
                "wskd_aug_cached_batch": (lambda: compiled(wskd("batch")), from_cache(wise_table)),
                "wskd_aug_cached_misclassified": (lambda: compiled(wskd("misclassified")), from_cache(wise_table)),
                "wskd_aug_cached_own_statistics": (
                    lambda: compiled(wskd("misclassified_own_statistics")),
                    from_cache(wise_table),
                ),
                "dkd_aug_cached": (lambda: compiled(kdkeras.DecoupledDistiller(student(), teacher)), from_cache(table)),
                "blkd_ls_aug_cached": (
                    lambda: compiled(
                        kdkeras.Distiller(student(), teacher, temperature=2.0, logit_standardization=True)
                    ),
                    from_cache(table),
                ),
                "dist_aug_cached": (
                    lambda: compiled(kdkeras.CorrelationDistiller(student(), teacher)),
                    from_cache(table),
                ),
                "fitnets_aug": (lambda: compiled(kdkeras.FeatureDistiller(student(), teacher)), splits.epoch_batches),
            }
        )
    for name in wanted:
        make, batches_of = makers[name]
        variants[name] = (make(), batches_of)
    return variants, fill


def epoch_work(name, images, step2_images, teacher_flops, student_flops):
    """`kdkeras.accounting`'s FLOPs of one epoch of variant `name`: its records, as a run would write them."""
    from kdkeras import accounting

    student = {
        "role": "student",
        "arch": FLAGS.student,
        "flops": student_flops,
        "epochs": 1,
        "images_trained": images + int(step2_images),
        # The teacher runs at every step only where its logits are not cached.
        "frozen_forward_images": {"teacher": images if name in TEACHER_EVERY_STEP else 0},
    }
    teacher = {"role": "teacher", "arch": FLAGS.teacher, "flops": teacher_flops, "epochs": 0, "checkpoint": "given"}
    return accounting.run_work({"models": [teacher, student]}).flops


@cli.run
def main(argv):
    check_data_flags()
    errors.check(FLAGS.rounds >= 1, f"--rounds={FLAGS.rounds}: expected >= 1")
    errors.check(
        FLAGS.teacher_error_rate < 0 or FLAGS.teacher_error_rate <= 1,
        f"--teacher_error_rate={FLAGS.teacher_error_rate}: expected a fraction in [0, 1], or -1",
    )
    wanted = [name for name in VARIANTS if FLAGS.variants is None or name in FLAGS.variants]
    unknown = sorted(set(FLAGS.variants or []) - set(VARIANTS))
    errors.check(not unknown, f"--variants: unknown {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    # Every variant is compared with the student alone and with BLKD from the cache, so both are timed.
    wanted = [name for name in VARIANTS if name in set(wanted) | {r(n) for n in wanted for r in (base_of, blkd_of)}]
    x, y = read_images(FLAGS.data, FLAGS.num_images)
    import tempfile

    from kdkeras import models

    teacher = make_teacher(x.shape[1:])
    with tempfile.TemporaryDirectory() as cache_dir:
        variants, fill = build_variants(x, y, teacher, wanted, FLAGS.batch_size, cache_dir)
        seconds, step2_images = time_variants(variants)
    if fill:
        print(
            f"teacher cache fill: {fill['fill_images']} images in {fill['fill_seconds']:.1f} s = "
            f"{fill['fill_images_per_second']:.0f} images/s of teacher inference; {fill['bytes']} bytes"
        )
    student_flops = models.count_flops(variants["student"][0] if "student" in variants else variants["student_aug"][0])
    report(seconds, step2_images, len(y), fill, models.count_flops(teacher), student_flops)


def time_variants(variants):
    """Seconds per epoch of every variant, and the images its step 2 computed, interleaved round after round."""
    for model, batches_of in variants.values():
        model.fit(batches_of(0).take(2), epochs=1, verbose=0)  # trace and warm up
    seconds = {name: [] for name in variants}
    step2_images = {name: [] for name in variants}
    for round_index in range(FLAGS.rounds):
        for name, (model, batches_of) in variants.items():
            start = time.perf_counter()
            # Round r is epoch r of every variant: its views, and the cache's rows of them.
            history = model.fit(batches_of(round_index), epochs=1, verbose=0).history
            seconds[name].append(time.perf_counter() - start)
            step2_images[name].append(float(history.get("step2_images", [0.0])[0]))
            print(f"round {round_index + 1}/{FLAGS.rounds} {name}: {seconds[name][-1]:.2f} s", flush=True)
    return seconds, step2_images


def report(seconds, step2_images, images, fill, teacher_flops, student_flops):
    """Prints each variant's time ratios (to the student alone, to BLKD from the cache) beside its counted work."""
    facts = {
        "images_per_epoch": int(images),
        "teacher": FLAGS.teacher_checkpoint or FLAGS.teacher,
        "student": FLAGS.student,
        "batch_size": FLAGS.batch_size,
        "teacher_error_rate": FLAGS.teacher_error_rate,
        "teacher_flops": teacher_flops,
        "student_flops": student_flops,
        "teacher_cache_fill": fill,
        "variants": {},
    }
    median = {name: statistics.median(s) for name, s in seconds.items()}
    work = {
        name: epoch_work(name, images, statistics.median(step2_images[name]), teacher_flops, student_flops)
        for name in seconds
    }
    for name, s in seconds.items():
        time_ratio = median[name] / median[blkd_of(name)]
        work_ratio = work[name] / work[blkd_of(name)]
        facts["variants"][name] = {
            "median_seconds": median[name],
            "min_seconds": min(s),
            "seconds": s,
            "step2_images_per_epoch": step2_images[name],
            "ratio_to_student": median[name] / median[base_of(name)],
            "time_ratio_to_blkd_cached": time_ratio,
            "work_ratio_to_blkd_cached": work_ratio,
            "work_within_tolerance": abs(time_ratio / work_ratio - 1.0) <= FLAGS.work_tolerance,
        }
    print(
        f"{'variant':30s} {'s/epoch':>8s} {'/student':>9s} {'time/BLKD':>10s} {'work/BLKD':>10s}  "
        f"work within {FLAGS.work_tolerance:.0%}  (BLKD: from the cache; augmented variants to augmented ones)"
    )
    for name, entry in facts["variants"].items():
        print(
            f"{name:30s} {entry['median_seconds']:8.2f} {entry['ratio_to_student']:8.2f}x "
            f"{entry['time_ratio_to_blkd_cached']:9.2f}x {entry['work_ratio_to_blkd_cached']:9.2f}x  "
            f"{'yes' if entry['work_within_tolerance'] else 'NO'}"
        )
    if FLAGS.output:
        from kdkeras.io import write_json_atomic

        write_json_atomic(FLAGS.output, facts)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
