"""Training and inference throughput of kdkeras ResNets next to the CPU's matmul rate.

Prints, from one process, the CPU model and its vector extensions
(/proc/cpuinfo), the practical peak of the machine (GFLOP/s of `tf.matmul`
on large float32 matrices), and for ResNet8, ResNet14 and ResNet26 on
32x32x3 images at batch 128: images per second of training (Keras `fit`,
SGD with Nesterov momentum, cross-entropy and accuracy, the way kdkeras
trains) and of inference (`predict`), with the achieved GFLOP/s
(`kdkeras.models.count_flops` forward, ~3x that per trained image) and its
share of the matmul rate.

All measurements are interleaved round after round (matmul, then each
model's training epoch and inference pass), and medians are reported, so
that load from other processes on a shared machine hits every figure alike.
A benchmark, not a test: its targets (ResNet8 training at >= 50% of the
matmul rate) are checked by reading its output.

    python tools/bench_throughput.py --data=data/cifar10-jpeg --num_images=5120
"""

import os
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cifar_jpeg import check_data_flags, define_data_flags, read_images  # noqa: E402  (tools/, beside this script)

from kdkeras import cli, performance, provenance  # noqa: E402  (performance: before TensorFlow)

define_data_flags(num_images=5120)
flags.DEFINE_integer("rounds", 3, "interleaved rounds")
flags.DEFINE_list("archs", ["resnet8", "resnet14", "resnet26"], "architectures")
flags.DEFINE_integer("matmul_size", 2048, "side of the square float32 matrices of the peak measurement")
flags.DEFINE_integer("steps_per_execution", 1, "Keras steps_per_execution of the training fit")
FLAGS = flags.FLAGS


def cpu_seconds():
    """User + system CPU seconds of this process so far."""
    times = os.times()
    return times.user + times.system


def timed(run):
    """`(wall seconds, CPU seconds)` of `run()`."""
    cpu, start = cpu_seconds(), time.perf_counter()
    run()
    return time.perf_counter() - start, cpu_seconds() - cpu


def matmul_rate(tf, size, repeats=10):
    """Returns a function timing `repeats` float32 matmuls of `size` squared; GFLOP/s."""
    a = tf.random.normal([size, size], seed=1)
    b = tf.random.normal([size, size], seed=2) / size**0.5  # keeps the chain's values bounded

    @tf.function
    def chain():
        c = a
        for _ in range(repeats):
            c = tf.matmul(c, b)  # each product feeds the next: none can be merged or skipped
        return tf.reduce_sum(c)

    chain().numpy()

    def measure():
        """`(GFLOP/s of wall time, GFLOP per CPU-second of this process)`."""
        cpu, start = cpu_seconds(), time.perf_counter()
        chain().numpy()
        flop = 2.0 * size**3 * repeats / 1e9
        return flop / (time.perf_counter() - start), flop / (cpu_seconds() - cpu)

    return measure


@cli.run
def main(argv):
    check_data_flags()
    import keras
    import tensorflow as tf

    from kdkeras import models
    from kdkeras.data.datasets import NORMALIZATION, fixed_pipeline

    name, vector = provenance.cpu_description()
    cpus = os.cpu_count()
    print(f"CPU: {name}, {cpus} logical CPUs, vector extensions: {' '.join(vector) or 'none found'}")
    print(
        "bf16: "
        + (
            "the CPU has AVX-512 BF16/AMX"
            if {"avx512_bf16", "amx_bf16"} & set(vector)
            else "no bf16 instructions, so mixed_bfloat16 is emulated and slower; not used"
        )
    )
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {performance.describe()}")
    x, y = read_images(FLAGS.data, FLAGS.num_images)
    steps = len(y) // FLAGS.batch_size
    x, y = x[: steps * FLAGS.batch_size], y[: steps * FLAGS.batch_size]
    # The library's feed: tf.data autotuning off (kdkeras.data.datasets.fixed_pipeline).
    train = fixed_pipeline(
        tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(y), seed=0).batch(FLAGS.batch_size)
    )
    test = fixed_pipeline(tf.data.Dataset.from_tensor_slices(x).batch(FLAGS.batch_size).cache())
    matmul = matmul_rate(tf, FLAGS.matmul_size)
    built = {}
    for arch in FLAGS.archs:
        keras.utils.set_random_seed(0)
        model = models.get(arch, x.shape[1:], 10, NORMALIZATION["cifar10"])
        model.compile(
            keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=FLAGS.steps_per_execution,
        )
        model.fit(train.take(2), verbose=0)
        model.predict(test.take(2), verbose=0)
        built[arch] = (model, models.count_flops(model))
    peak, peak_cpu = [], []
    train_wall, train_cpu = {a: [] for a in built}, {a: [] for a in built}
    infer_wall, infer_cpu = {a: [] for a in built}, {a: [] for a in built}
    for round_index in range(FLAGS.rounds):
        rate, rate_cpu = matmul()
        peak.append(rate)
        peak_cpu.append(rate_cpu)
        for arch, (model, _) in built.items():
            wall, cpu = timed(lambda: model.fit(train, epochs=1, verbose=0))
            train_wall[arch].append(wall)
            train_cpu[arch].append(cpu)
            wall, cpu = timed(lambda: model.predict(test, verbose=0))
            infer_wall[arch].append(wall)
            infer_cpu[arch].append(cpu)
        print(
            f"round {round_index + 1}/{FLAGS.rounds}: matmul {peak[-1]:.1f} GFLOP/s, "
            + ", ".join(f"{a} {len(y) / train_wall[a][-1]:.0f}/{len(y) / infer_wall[a][-1]:.0f} img/s" for a in built),
            flush=True,
        )
    median = statistics.median
    peak, peak_cpu = median(peak), median(peak_cpu)
    print(
        f"\nmatmul {FLAGS.matmul_size}x{FLAGS.matmul_size} float32: {peak:.1f} GFLOP/s wall, {peak_cpu:.1f} "
        "GFLOP per CPU-second (practical peak)"
    )
    print(
        f"medians of {FLAGS.rounds} interleaved rounds, {len(y)} images per epoch, batch {FLAGS.batch_size}; "
        "'of peak' compares GFLOP/s of wall time,"
    )
    print("'CPU' compares GFLOP per CPU-second of this process (robust to other processes sharing the cores)")
    print(
        f"{'model':9s} {'MFLOPs':>7s} {'train img/s':>11s} {'GFLOP/s':>8s} {'of peak':>7s} {'CPU':>5s} "
        f"{'infer img/s':>11s} {'GFLOP/s':>8s} {'of peak':>7s} {'CPU':>5s}"
    )
    for arch, (_, flops) in built.items():
        row = f"{arch:9s} {flops / 1e6:7.1f}"
        for wall, cpu, factor in ((train_wall, train_cpu, 3), (infer_wall, infer_cpu, 1)):
            rate = len(y) / median(wall[arch])
            gflops = rate * factor * flops / 1e9
            per_cpu = len(y) * factor * flops / 1e9 / median(cpu[arch])
            row += f" {rate:11.0f} {gflops:8.1f} {gflops / peak:7.0%} {per_cpu / peak_cpu:5.0%}"
        print(row)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
