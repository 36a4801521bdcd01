"""A plain PyTorch CPU training loop of ResNet8, for comparison with kdkeras.

Not part of the package and not a test: PyTorch is not a kdkeras dependency.
Install the CPU build to run it (`pip install torch==2.13.0`); without torch
the script says so and exits 0.

Same network as `kdkeras.models.get("resnet8", (32, 32, 3), 10, ...)`, from
tools/torch_networks.py (shared with the study's peer, tools/torch_peer.py):
a 3x3 convolution of 16 channels with batch normalisation and ReLU, three
stages of one basic block (16, 32, 64 channels; stages 2 and 3 halve the
resolution, with a 1x1 projection shortcut), global average pooling and a
dense layer; TensorFlow's "same" padding and Keras's initialisers;
normalisation of the raw 0-255 pixels inside the model; batch 128, SGD with
Nesterov momentum 0.9, cross-entropy. Prints images per second of training
(median of `--rounds` epochs over `--num_images` images held in memory as
uint8) and, when TensorFlow is importable, the same for kdkeras `fit` in the
same process, interleaved epoch by epoch, and their ratio.

    python tools/bench_torch_reference.py --data=data/cifar10-jpeg --num_images=5120
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default="data/cifar10-jpeg",
        help="image folder with train/<class>/*.jpg (the extracted CIFAR-10 JPEG copy)",
    )
    parser.add_argument("--num_images", type=int, default=5120)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no_keras", action="store_true", help="time PyTorch alone")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print(
            "skipped: PyTorch is not installed (pip install torch==2.13.0 for the CPU build); it is not a "
            "kdkeras dependency"
        )
        return 0

    from cifar_jpeg import read_images
    from torch_networks import CIFAR10_NORMALIZATION, ResNet

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = read_images(args.data, args.num_images)
    batches = len(y) // args.batch_size
    model = ResNet(8, 10, normalization=CIFAR10_NORMALIZATION).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.from_numpy(x).permute(0, 3, 1, 2)  # uint8 NCHW view of NHWC memory: channels-last
    labels = torch.from_numpy(y)

    def torch_epoch():
        model.train()
        order = torch.randperm(len(labels))
        for b in range(batches):
            index = order[b * args.batch_size : (b + 1) * args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images[index].contiguous(memory_format=torch.channels_last)), labels[index])
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    epochs = {"pytorch": torch_epoch}
    if not args.no_keras:
        import keras
        import tensorflow as tf

        from kdkeras import (
            models,
            performance,  # noqa: F401  (before TensorFlow)
        )
        from kdkeras.data.datasets import NORMALIZATION, fixed_pipeline

        keras.utils.set_random_seed(0)
        kmodel = models.get("resnet8", x.shape[1:], 10, NORMALIZATION["cifar10"])
        kmodel.compile(
            keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        data = fixed_pipeline(
            tf.data.Dataset.from_tensor_slices((x, y))
            .cache()
            .shuffle(len(y), seed=0)
            .batch(args.batch_size)
            .take(batches)
        )
        kmodel.fit(data.take(2), verbose=0)
        epochs["keras"] = lambda: kmodel.fit(data, epochs=1, verbose=0)
    torch_epoch()  # warm up
    seconds = {name: [] for name in epochs}
    cpu = {name: [] for name in epochs}
    for r in range(args.rounds):
        for name, run in epochs.items():
            before, start = os.times(), time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
            after = os.times()
            cpu[name].append(after.user + after.system - before.user - before.system)
        print(f"round {r + 1}: " + "  ".join(f"{n}={s[-1]:.2f}s" for n, s in seconds.items()), flush=True)
    images_per_epoch = batches * args.batch_size
    rate = {name: images_per_epoch / statistics.median(s) for name, s in seconds.items()}
    print(
        f"# interleaved in one process, {images_per_epoch} images/epoch, batch {args.batch_size}, median of "
        f"{args.rounds} epochs; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name, r in rate.items():
        print(
            f"{name:8s} train {r:8.0f} img/s  {statistics.median(seconds[name]):.2f} s/epoch wall  "
            f"{statistics.median(cpu[name]):.2f} CPU-s/epoch"
        )
    if "keras" in rate:
        cpu_ratio = statistics.median(cpu["keras"]) / statistics.median(cpu["pytorch"])
        print(
            f"keras takes {rate['pytorch'] / rate['keras']:.2f}x the wall time and {cpu_ratio:.2f}x the CPU "
            "time of the PyTorch loop"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
