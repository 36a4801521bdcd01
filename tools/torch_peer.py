"""The CIFAR-10 study's PyTorch peer: its teacher, NOKD and BLKD rows trained in plain PyTorch on the CPU.

The kdkeras CIFAR-10 study (configs/compare/cifar10_study.flags) checks its
teacher, NOKD and BLKD means against an independent implementation of the
same networks, data and recipe. This is that implementation, so that the
reference figures come from a command and not from a flagfile:

- data: the JPEG image folder (`train/<class>/*.jpg`, `test/<class>/*.jpg`,
  classes numbered in sorted order), decoded once with PIL
  (`--decoder=tensorflow`: with TensorFlow's fast integer DCT, kdkeras's
  pixels exactly; PIL's accurate DCT differs by up to 5 levels); every epoch a
  new order and, per image, a 4-pixel zero-padded random crop and a random
  horizontal flip (drawn from the seed and the epoch alone, so a resumed
  run sees the batches an uninterrupted one would); the last, smaller batch
  of an epoch is kept, as kdkeras keeps it;
- networks: tools/torch_networks.py, kdkeras's ResNets layer for layer,
  with the pixels scaled to 0-1 inside the model as kdkeras does for an
  `imagefolder:` dataset (`--normalization=cifar10` for per-channel
  mean/std);
- recipe: batch 128, `torch.optim.SGD(nesterov=True, momentum=0.9,
  weight_decay=5e-4)` (L2 in the gradient, kdkeras's
  `--weight_decay_mode=l2`), 20 epochs of the one-cycle learning rate of
  `kdkeras.optimizers.make_schedule("onecycle", ...)` step for step: linear
  from 0.1/25 to 0.1 over the first 15% of the steps, then a cosine down to
  0.1/25/1e4 (`--lr_schedule=torch_onecycle` takes PyTorch's `OneCycleLR`
  instead, whose warm-up is a half cosine, with the momentum held at 0.9);
- models: the ResNet26 teacher on labels (seed `--teacher_seed`), and per
  seed a ResNet8 on labels (NOKD) and a ResNet8 taught by that teacher
  (BLKD: `(1 - alpha) CE + alpha T^2 KL(p_t^T || p_s^T)`, T = 4,
  alpha = 0.9, the teacher in inference mode on the student's own batch).
  The NOKD and BLKD students of one seed start from the same weights and
  see the same batches.

Every finished epoch is checkpointed under `--work_dir` (default
runs/peer/<model>/), and every finished model kept there with its record:
run the same command again after a stop and it goes on where it was. A
work folder trained with another recipe is refused, not mixed in. The peer
file (`--output`, default results/cifar10/peer.json) is written at the end,
atomically; the study reads its `accuracy`.

    pip install -e ".[peer]"      # PyTorch's CPU build
    python tools/torch_peer.py    # about an hour on 2 cores

Bad input (a missing data folder, a bad flag) ends with one line and exit
status 2.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEDULES = ("kdkeras_onecycle", "torch_onecycle")
# kdkeras.optimizers' one-cycle constants (PyTorch's OneCycleLR defaults): start at peak/25, end at start/1e4.
ONECYCLE_DIV_FACTOR = 25.0
ONECYCLE_FINAL_DIV_FACTOR = 1e4
PAD = 4
EVAL_BATCH = 1000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), exit status 2."""

    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = Parser(prog="torch_peer.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/cifar10-jpeg", help="image folder with train/ and test/<class>/*.jpg")
    parser.add_argument("--output", default="results/cifar10/peer.json", help="the peer file the study reads")
    parser.add_argument("--work_dir", default="runs/peer", help="checkpoints and finished models, for resumption")
    parser.add_argument("--seeds", type=int, default=1, help="student seeds 0..N-1 (NOKD and BLKD each)")
    parser.add_argument("--teacher_seed", type=int, default=0, help="seed of the teacher (the study's teacher: 0)")
    parser.add_argument("--teacher", default="resnet26", help="teacher network, resnetN")
    parser.add_argument("--student", default="resnet8", help="student network, resnetN")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every model")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=0.1, help="the one-cycle peak")
    parser.add_argument("--momentum", type=float, default=0.9, help="Nesterov momentum")
    parser.add_argument("--weight_decay", type=float, default=5e-4, help="L2 in the gradient")
    parser.add_argument("--warmup_fraction", type=float, default=0.15, help="share of the steps rising to the peak")
    parser.add_argument("--lr_schedule", default="kdkeras_onecycle", choices=SCHEDULES)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9, help="weight of the KD term")
    parser.add_argument(
        "--normalization",
        default="scale",
        choices=("scale", "cifar10"),
        help="the model's first layer: pixels/255 (kdkeras on an image folder) or CIFAR-10's mean/std",
    )
    parser.add_argument(
        "--decoder",
        default="pil",
        choices=sorted(DECODERS),
        help="JPEG decoding: PIL (independent of kdkeras) or TensorFlow's (kdkeras's pixels exactly)",
    )
    parser.add_argument("--threads", type=int, default=default_threads(), help="torch.set_num_threads")
    args = parser.parse_args(argv)
    checks = [
        (args.seeds >= 1, f"--seeds={args.seeds}: expected at least 1"),
        (args.teacher_seed >= 0, f"--teacher_seed={args.teacher_seed}: expected 0 or more"),
        (args.epochs >= 1, f"--epochs={args.epochs}: expected at least 1"),
        (args.batch_size >= 1, f"--batch_size={args.batch_size}: expected at least 1"),
        (args.learning_rate > 0, f"--learning_rate={args.learning_rate}: expected more than 0"),
        (0 < args.momentum < 1, f"--momentum={args.momentum}: expected a value in (0, 1) (Nesterov needs one)"),
        (args.weight_decay >= 0, f"--weight_decay={args.weight_decay}: expected 0 or more"),
        (0 <= args.warmup_fraction < 1, f"--warmup_fraction={args.warmup_fraction}: expected a value in [0, 1)"),
        (
            args.warmup_fraction > 0 or args.lr_schedule != "torch_onecycle",
            "--warmup_fraction=0: OneCycleLR (--lr_schedule=torch_onecycle) needs a warm-up",
        ),
        (args.temperature > 0, f"--temperature={args.temperature}: expected more than 0"),
        (0 <= args.alpha <= 1, f"--alpha={args.alpha}: expected a value in [0, 1]"),
        (args.threads >= 1, f"--threads={args.threads}: expected at least 1"),
    ]
    for name in ("teacher", "student"):
        value = getattr(args, name)
        checks.append(
            (depth_of(value) is not None, f"--{name}={value}: expected resnetN with N = 6n + 2 (8, 14, 26, ...)")
        )
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    return args


def default_threads():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def depth_of(name):
    """The depth N of `resnetN` (N = 6n + 2), or None."""
    digits = name[len("resnet") :] if name.startswith("resnet") else ""
    if not digits.isdigit():
        return None
    depth = int(digits)
    return depth if depth >= 8 and (depth - 2) % 6 == 0 else None


def onecycle_learning_rate(step, total_steps, peak, warmup_fraction):
    """kdkeras's `onecycle` rate at optimizer step `step` (from 0): Keras's `CosineDecay` with linear warm-up."""
    total_steps = max(1, int(total_steps))
    warmup_steps = int(round(total_steps * warmup_fraction))
    start = peak / ONECYCLE_DIV_FACTOR
    if step < warmup_steps:
        return start + (peak - start) * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    done = min(step - warmup_steps, decay_steps) / decay_steps
    alpha = 1.0 / (ONECYCLE_DIV_FACTOR * ONECYCLE_FINAL_DIV_FACTOR)
    return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)


def make_scheduler(torch, optimizer, args, total_steps):
    """The learning-rate scheduler, stepped once after every optimizer step."""
    if args.lr_schedule == "torch_onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=args.learning_rate,
            total_steps=total_steps,
            pct_start=args.warmup_fraction,
            anneal_strategy="cos",
            cycle_momentum=False,
            div_factor=ONECYCLE_DIV_FACTOR,
            final_div_factor=ONECYCLE_FINAL_DIV_FACTOR,
        )
    peak = args.learning_rate
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: onecycle_learning_rate(step, total_steps, peak, args.warmup_fraction) / peak
    )


# Data


def list_split(root, split):
    """`([(path, label)], class names)` of `root/split/<class>/*`, classes and files in sorted order."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise UsageError(f"--data={root}: expected a folder {folder} of class folders")
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not classes:
        raise UsageError(f"--data={root}: {folder} has no class folders")
    entries = []
    for label, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(folder, name)) if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise UsageError(f"--data={root}: the class folder {os.path.join(folder, name)} has no images")
        entries += [(os.path.join(folder, name, f), label) for f in files]
    return entries, classes


def pil_reader():
    from PIL import Image

    def read(path):
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    return read, OSError


def tensorflow_reader():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    def read(path):
        with open(path, "rb") as f:
            return tf.io.decode_image(f.read(), channels=3, expand_animations=False).numpy()

    return read, (OSError, tf.errors.InvalidArgumentError)


# How the pixels are decoded. PIL's libjpeg-turbo uses the accurate integer DCT; TensorFlow's
# `decode_image`, which kdkeras's image folders go through, the fast one: on the CIFAR-10 JPEG copy
# about two thirds of the pixel values differ, by at most 5 levels of 255.
DECODERS = {"pil": pil_reader, "tensorflow": tensorflow_reader}


def decode_images(entries, root, decoder="pil"):
    """uint8 `[N, H, W, 3]` pixels and int64 labels; every image must have the first one's size."""
    read, failures = DECODERS[decoder]()
    images = []
    for path, _ in entries:
        try:
            pixels = read(path)
        except failures as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UsageError(f"--data={root}: {path} is not a readable image ({reason[:200]})") from None
        if images and pixels.shape != images[0].shape:
            raise UsageError(
                f"--data={root}: {path} is {pixels.shape[1]}x{pixels.shape[0]}, expected every image "
                f"{images[0].shape[1]}x{images[0].shape[0]} as the first"
            )
        images.append(pixels)
    return np.stack(images), np.asarray([label for _, label in entries], dtype=np.int64)


def load_data(root, work_dir, decoder="pil"):
    """`{"train": (x, y), "test": (x, y), "classes": [...]}`, decoded once and kept in `work_dir`/data."""
    if not os.path.isdir(root):
        raise UsageError(f"--data={root}: no such folder; expected train/<class>/*.jpg and test/<class>/*.jpg")
    listed = {split: list_split(root, split) for split in ("train", "test")}
    if listed["train"][1] != listed["test"][1]:
        raise UsageError(f"--data={root}: train/ and test/ must hold the same class folders")
    signature = hashlib.sha256(f"decoder={decoder}\n".encode())
    for split in ("train", "test"):
        for path, label in listed[split][0]:
            stat = os.stat(path)
            signature.update(f"{os.path.relpath(path, root)}:{label}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    cache = os.path.join(work_dir, "data", f"{signature.hexdigest()[:16]}.npz")
    if os.path.exists(cache):
        with np.load(cache) as arrays:
            data = {split: (arrays[f"{split}_x"], arrays[f"{split}_y"]) for split in ("train", "test")}
    else:
        start = time.perf_counter()
        data = {split: decode_images(listed[split][0], root, decoder) for split in ("train", "test")}
        if data["train"][0].shape[1:] != data["test"][0].shape[1:]:
            raise UsageError(f"--data={root}: the train and test images differ in size")
        write_atomic(
            cache,
            lambda f: np.savez(f, **{f"{s}_{k}": v for s in data for k, v in zip("xy", data[s])}),
            binary=True,
        )
        print(f"[peer] decoded {sum(len(v[1]) for v in data.values())} images in {time.perf_counter() - start:.1f} s")
    data["classes"] = listed["train"][1]
    return data


def augmented_batches(torch, images, labels, batch_size, seed, epoch):
    """The epoch's batches `(pixels NCHW uint8, labels)`: a fixed order and crop+flip views of `(seed, epoch)`.

    `images` is uint8 NHWC; each example gets a 4-pixel zero-padded random
    crop and a random horizontal flip.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    count, height, width, _ = images.shape
    order = torch.randperm(count, generator=generator)
    offset_y = torch.randint(0, 2 * PAD + 1, (count,), generator=generator)
    offset_x = torch.randint(0, 2 * PAD + 1, (count,), generator=generator)
    flip = torch.randint(0, 2, (count,), generator=generator).bool()
    padded = torch.nn.functional.pad(images, (0, 0, PAD, PAD, PAD, PAD))  # NHWC: pad H and W
    rows, columns = torch.arange(height), torch.arange(width)
    for start in range(0, count, batch_size):
        index = order[start : start + batch_size]
        y = offset_y[index, None] + rows
        x = offset_x[index, None] + torch.where(flip[index, None], columns.flip(0), columns)
        crops = padded[index[:, None, None], y[:, :, None], x[:, None, :]]  # [B, H, W, C]
        yield crops.permute(0, 3, 1, 2), labels[index]


def evaluate(torch, model, images, labels):
    """Top-1 accuracy in inference mode (batch norm's moving statistics)."""
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), EVAL_BATCH):
            pixels = images[start : start + EVAL_BATCH].permute(0, 3, 1, 2)
            logits = model(pixels.contiguous(memory_format=torch.channels_last))
            correct += int((logits.argmax(dim=1) == labels[start : start + EVAL_BATCH]).sum())
    return correct / len(labels)


def distillation_loss(torch, logits, labels, teacher_logits, temperature, alpha):
    """BLKD, as `kdkeras.losses.kd_loss_per_example` averaged: `(1 - alpha) CE + alpha T^2 KL(p_t^T || p_s^T)`."""
    functional = torch.nn.functional
    ce = functional.cross_entropy(logits, labels)
    kd = functional.kl_div(
        functional.log_softmax(logits / temperature, dim=1),
        functional.log_softmax(teacher_logits / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return (1.0 - alpha) * ce + alpha * temperature**2 * kd


# Files


def write_atomic(path, write, binary=False):
    """Calls `write(file)` on a temporary file beside `path`, then renames it onto `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=directory)
    try:
        with os.fdopen(handle, "wb" if binary else "w") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, payload):
    write_atomic(path, lambda f: f.write(json.dumps(payload, indent=2) + "\n"))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def machine_description():
    """`"<cpu model>, <n> cores (<m> usable)"` from /proc/cpuinfo."""
    name = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                    break
    except OSError:
        pass
    return f"{name or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores ({default_threads()} usable)"


def repository_commit():
    """This repository's commit (with `-dirty` when tracked files differ), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "tools/torch_peer.py", "tools/torch_networks.py"], cwd=ROOT
        )
        return commit + ("-dirty" if dirty.returncode else "")
    except (OSError, subprocess.CalledProcessError):
        return None


# Training


class Trainer:
    """Trains, checkpoints and resumes the peer's models under `work_dir/<name>/`."""

    def __init__(self, torch, args, data):
        self.torch = torch
        self.args = args
        self.train_x = torch.from_numpy(data["train"][0])
        self.train_y = torch.from_numpy(data["train"][1])
        self.test_x = torch.from_numpy(data["test"][0])
        self.test_y = torch.from_numpy(data["test"][1])
        self.num_classes = len(data["classes"])
        self.steps_per_epoch = math.ceil(len(self.train_y) / args.batch_size)

    def build(self, arch, seed):
        from torch_networks import CIFAR10_NORMALIZATION, ResNet

        self.torch.manual_seed(seed)
        normalization = CIFAR10_NORMALIZATION if self.args.normalization == "cifar10" else None
        channels = self.train_x.shape[-1]
        model = ResNet(depth_of(arch), self.num_classes, channels, normalization)
        return model.to(memory_format=self.torch.channels_last)

    def recipe(self, name, arch, seed, teacher=None):
        """What decides a model's weights: a checkpoint trained with another recipe is not resumed."""
        args = self.args
        recipe = {
            "model": name,
            "arch": arch,
            "seed": seed,
            "data": os.path.abspath(args.data),
            "num_train": len(self.train_y),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "momentum": args.momentum,
            "weight_decay": args.weight_decay,
            "warmup_fraction": args.warmup_fraction,
            "lr_schedule": args.lr_schedule,
            "normalization": args.normalization,
            "decoder": args.decoder,
        }
        if teacher is not None:
            recipe.update(teacher=teacher["record"]["recipe"], temperature=args.temperature, alpha=args.alpha)
        return recipe

    def train(self, name, arch, seed, teacher=None):
        """Returns `{"record": ..., "model": the trained network}`, training only what is not yet done."""
        torch, args = self.torch, self.args
        folder = os.path.join(args.work_dir, name)
        recipe = self.recipe(name, arch, seed, teacher)
        final_record, final_weights = os.path.join(folder, "record.json"), os.path.join(folder, "model.pt")
        checkpoint_path = os.path.join(folder, "checkpoint.pt")
        model = self.build(arch, seed)
        if os.path.exists(final_record) and os.path.exists(final_weights):
            record = read_json(final_record)
            self.check_recipe(folder, record["recipe"], recipe)
            model.load_state_dict(torch.load(final_weights, weights_only=True))
            print(f"[peer] {name}: finished before, test accuracy {record['accuracy']:.4f}", flush=True)
            return {"record": record, "model": model}
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=args.learning_rate,
            momentum=args.momentum,
            nesterov=True,
            weight_decay=args.weight_decay,
        )
        scheduler = make_scheduler(torch, optimizer, args, args.epochs * self.steps_per_epoch)
        per_epoch, first_epoch, commits = [], 0, []
        if os.path.exists(checkpoint_path):
            state = torch.load(checkpoint_path, weights_only=False)
            self.check_recipe(folder, state["recipe"], recipe)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            per_epoch, first_epoch = state["per_epoch"], state["epoch"]
            commits = state.get("commits", [])
            print(f"[peer] {name}: resumed after epoch {first_epoch}/{args.epochs}", flush=True)
        commit = repository_commit() or "not recorded"
        if commit not in commits:
            commits.append(commit)
        teacher_model = None if teacher is None else teacher["model"].eval()
        for epoch in range(first_epoch, args.epochs):
            model.train()
            start = time.perf_counter()
            correct = seen = 0
            for pixels, labels in augmented_batches(torch, self.train_x, self.train_y, args.batch_size, seed, epoch):
                pixels = pixels.contiguous(memory_format=torch.channels_last)
                logits = model(pixels)
                if teacher_model is None:
                    loss = torch.nn.functional.cross_entropy(logits, labels)
                else:
                    with torch.no_grad():
                        teacher_logits = teacher_model(pixels)
                    loss = distillation_loss(torch, logits, labels, teacher_logits, args.temperature, args.alpha)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                correct += int((logits.detach().argmax(dim=1) == labels).sum())
                seen += len(labels)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            test_accuracy = evaluate(torch, model, self.test_x, self.test_y)
            per_epoch.append(
                {
                    "epoch": epoch + 1,
                    "train_accuracy": correct / seen,
                    "test_accuracy": test_accuracy,
                    "seconds": round(seconds, 3),
                    "test_seconds": round(time.perf_counter() - start, 3),
                }
            )
            state = {
                "recipe": recipe,
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "per_epoch": per_epoch,
                "commits": commits,
            }
            write_atomic(checkpoint_path, lambda f: torch.save(state, f), binary=True)
            print(
                f"[peer] {name} epoch {epoch + 1}/{args.epochs}: train {correct / seen:.4f}, "
                f"test {test_accuracy:.4f}, {seconds:.1f} s",
                flush=True,
            )
        record = {
            "recipe": recipe,
            "accuracy": per_epoch[-1]["test_accuracy"],
            "train_seconds": round(sum(e["seconds"] for e in per_epoch), 3),
            "per_epoch": per_epoch,
            "commits": commits,
        }
        write_atomic(final_weights, lambda f: torch.save(model.state_dict(), f), binary=True)
        write_json(final_record, record)
        os.remove(checkpoint_path)
        print(f"[peer] {name}: test accuracy {record['accuracy']:.4f}, {record['train_seconds']:.1f} s", flush=True)
        return {"record": record, "model": model}

    @staticmethod
    def check_recipe(folder, found, expected):
        if found != expected:
            differing = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
            raise UsageError(
                f"{folder} holds a model trained with another recipe ({', '.join(differing)} differ); "
                "pass another --work_dir or remove that folder"
            )


def recorded_commits(records):
    """The commits the runs were trained under, as their records say (a rewrite later names no commit of its own)."""
    commits = sorted({c for r in records for c in r.get("commits", ["not recorded"])})
    return "; ".join(commits)


def peer_file(args, torch, records, seeds, command):
    """The study's peer file: accuracies (means over the seeds), training times and curves."""
    students = {m: [records[f"{m}_seed{s}"]["record"] for s in seeds] for m in ("nokd", "blkd")}
    teacher = records["teacher"]["record"]
    n = len(seeds)
    source = (
        f"plain PyTorch {torch.__version__} on CPU (tools/torch_peer.py): {args.teacher} teacher on labels, "
        f"{args.student} NOKD and BLKD (T={args.temperature:g}, alpha={args.alpha:g}) students, {args.epochs} epochs, "
        f"batch {args.batch_size}, SGD Nesterov {args.momentum:g}, L2 {args.weight_decay:g}, "
        f"{args.lr_schedule} peaking at {args.learning_rate:g}, crop+flip, {args.decoder} JPEG decoding; "
        f"{n} seed{'s' if n > 1 else ''}"
    )

    def epochs_of(model, seed, record):
        return [{"seed": seed, **e} if model != "teacher" else dict(e) for e in record["per_epoch"]]

    return {
        "source": source,
        "command": command,
        "torch_version": torch.__version__,
        "machine": machine_description(),
        "threads": args.threads,
        "commit": recorded_commits([teacher, *(r for rs in students.values() for r in rs)]),
        "seeds": list(seeds),
        "teacher_seed": args.teacher_seed,
        "accuracy": {
            "teacher": teacher["accuracy"],
            **{m: float(np.mean([r["accuracy"] for r in rs])) for m, rs in students.items()},
        },
        "seed_accuracy": {m: [r["accuracy"] for r in rs] for m, rs in students.items()},
        "train_seconds": {
            "teacher": teacher["train_seconds"],
            **{m: round(float(np.mean([r["train_seconds"] for r in rs])), 3) for m, rs in students.items()},
        },
        "epochs": args.epochs,
        "per_epoch": {
            "teacher": epochs_of("teacher", args.teacher_seed, teacher),
            **{m: [e for s, r in zip(seeds, rs) for e in epochs_of(m, s, r)] for m, rs in students.items()},
        },
        "recipe": {
            "data": args.data,
            "teacher": args.teacher,
            "student": args.student,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "momentum": args.momentum,
            "nesterov": True,
            "weight_decay": args.weight_decay,
            "weight_decay_mode": "l2",
            "lr_schedule": args.lr_schedule,
            "warmup_fraction": args.warmup_fraction,
            "temperature": args.temperature,
            "alpha": args.alpha,
            "normalization": args.normalization,
            "decoder": args.decoder,
            "augment": "4-pixel zero pad, random crop, random horizontal flip",
        },
    }


def run(argv):
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        raise UsageError('PyTorch is not installed; install the CPU build with pip install -e ".[peer]"') from None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    torch.set_num_threads(args.threads)
    script = os.path.abspath(__file__)
    if script.startswith(os.getcwd() + os.sep):
        script = os.path.relpath(script)
    command = shlex.join(["python", script, *argv])
    data = load_data(args.data, args.work_dir, args.decoder)
    trainer = Trainer(torch, args, data)
    print(
        f"[peer] torch {torch.__version__}, {torch.get_num_threads()} threads; {len(trainer.train_y)} training and "
        f"{len(trainer.test_y)} test images, {trainer.num_classes} classes",
        flush=True,
    )
    seeds = list(range(args.seeds))
    records = {"teacher": trainer.train("teacher", args.teacher, args.teacher_seed)}
    for seed in seeds:
        records[f"nokd_seed{seed}"] = trainer.train(f"nokd_seed{seed}", args.student, seed)
        records[f"blkd_seed{seed}"] = trainer.train(f"blkd_seed{seed}", args.student, seed, teacher=records["teacher"])
    payload = peer_file(args, torch, records, seeds, command)
    write_json(args.output, payload)
    print(f"[peer] wrote {args.output}: " + ", ".join(f"{k} {v:.4f}" for k, v in payload["accuracy"].items()))
    return 0


def main(argv=None):
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"torch_peer.py: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
