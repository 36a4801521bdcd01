"""What tf.data autotuning costs a run that calls `fit` once per epoch.

kdkeras trains one `fit` per epoch, each on that epoch's own dataset
(`Splits.epoch_batches`), so that a resumed run sees the batches an
uninterrupted one would. With tf.data autotuning on, destroying a used
iterator waits for the autotuner's background thread to wake up, so `fit`
can return seconds after its last batch. This benchmark trains a ResNet8 on
the first `--num_images` CIFAR-10 training images for `--epochs` epochs per
setting, the two settings interleaved epoch by epoch, and prints per setting
the seconds of every `fit` and how long each took to return after Keras's
`on_train_end` (the epoch's last batch and callbacks done). The settings
differ only in tf.data's autotuning option (`Splits.autotune`): the same
fixed parallel calls and prefetch buffer, so the difference is the tuner
thread's, not its choices':

    python tools/bench_input_pipeline.py --data=../shared/datasets/cifar10-jpeg.tar.gz

`autotune off` is what kdkeras runs with (`kdkeras.data.datasets.fixed_pipeline`).
A benchmark, not a test.
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
flags.DEFINE_integer("epochs", 5, "epochs (one `fit` each) per setting")
flags.DEFINE_string("model", "resnet8", "architecture trained")
flags.DEFINE_string("output", None, "JSON file for the measurements")
FLAGS = flags.FLAGS

SETTINGS = {"autotune off": False, "autotune on": True}


def measure(x, y):
    """`{setting: [(fit seconds, seconds after the last batch), ...]}`, interleaved epoch by epoch."""
    import keras

    from kdkeras import models

    class LastBatch(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            self.at = time.perf_counter()

    runs = {}
    for name, autotune in SETTINGS.items():
        splits = augmented_splits(x, y, FLAGS.batch_size, autotune)
        model = models.get(FLAGS.model, x.shape[1:], 10)
        model.compile(
            keras.optimizers.SGD(0.05, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(splits.epoch_batches(0).take(2), verbose=0)  # trace and warm up
        runs[name] = (model, splits)
    timings = {name: [] for name in SETTINGS}
    last = LastBatch()
    for epoch in range(FLAGS.epochs):
        for name, (model, splits) in runs.items():
            start = time.perf_counter()
            model.fit(splits.epoch_batches(epoch), epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[last])
            end = time.perf_counter()
            timings[name].append((end - start, end - last.at))
            print(
                f"epoch {epoch + 1}/{FLAGS.epochs} {name}: {end - start:.2f} s, "
                f"{end - last.at:.2f} s after the last batch"
            )
    return timings


@cli.run
def main(argv):
    errors.check(FLAGS.epochs >= 1, f"--epochs={FLAGS.epochs}: expected >= 1")
    check_data_flags()
    from kdkeras import performance

    x, y = read_images(FLAGS.data, FLAGS.num_images)
    timings = measure(x, y)
    print(f"{FLAGS.model}, {len(y)} images per epoch, batch {FLAGS.batch_size}; {performance.describe()}")
    facts = {"model": FLAGS.model, "images_per_epoch": int(len(y)), "settings": {}}
    for name, rows in timings.items():
        seconds = [round(s, 3) for s, _ in rows]
        after = [round(a, 3) for _, a in rows]
        facts["settings"][name] = {"fit_seconds": seconds, "seconds_after_last_batch": after}
        print(
            f"{name:13s} median {statistics.median(seconds):6.2f} s per fit, total {sum(seconds):7.2f} s; "
            f"after the last batch: {' '.join(f'{a:.2f}' for a in after)} s"
        )
    if FLAGS.output:
        from kdkeras.io import write_json_atomic

        write_json_atomic(FLAGS.output, facts)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
