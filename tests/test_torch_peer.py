"""tools/torch_peer.py, the CIFAR-10 study's PyTorch peer, and its networks (tools/torch_networks.py).

Skipped where PyTorch is absent: it is the optional `[peer]` extra.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the optional [peer] extra)")
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch_networks  # noqa: E402  (tools/, after the skip)
import torch_peer  # noqa: E402


def make_image_folder(root, per_class=(6, 3), classes=("cat", "dog", "ship"), size=32):
    """Random JPEGs in `root/{train,test}/<class>/`."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in zip(("train", "test"), per_class):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.jpg")
    return root


@pytest.mark.parametrize("depth", [8, 26])
def test_weight_count_equals_kdkeras(depth):
    from kdkeras import models

    expected = models.count_params(models.get(f"resnet{depth}", (32, 32, 3), 10))
    assert torch_networks.count_weights(torch_networks.ResNet(depth, 10)) == expected


@pytest.mark.parametrize("normalization", [None, torch_networks.CIFAR10_NORMALIZATION])
def test_same_logits_as_kdkeras_with_the_same_weights(normalization):
    """Every layer, its padding (TensorFlow's asymmetric "same" at stride 2) and the normalisation agree."""
    from kdkeras import models

    keras_model = models.get("resnet14", (32, 32, 3), 10, normalization)
    rng = np.random.default_rng(1)
    for layer in keras_model.layers:
        if "_bn" in layer.name:  # moving statistics and scales that are not the identity
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2.0, variance.shape).astype("float32"),
                ]
            )
    model = torch_networks.ResNet(14, 10, normalization=normalization)
    torch_networks.copy_keras_weights(keras_model, model)
    pixels = rng.integers(0, 256, (4, 32, 32, 3)).astype("float32")
    expected = keras_model(pixels, training=False).numpy()
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(pixels).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_initialisation_has_keras_scales():
    """he_normal convolutions (std sqrt(2 / fan_in), within 2 std), glorot_uniform dense, zero bias."""
    torch.manual_seed(0)
    model = torch_networks.ResNet(8, 10)
    kernel = model.blocks[2].first.conv.weight.detach().numpy()  # 3x3, 32 -> 64: 18,432 weights
    std = math.sqrt(2.0 / (32 * 9))
    assert abs(kernel.std() / std - 1) < 0.03
    assert np.abs(kernel).max() <= 2 * std / torch_networks.TRUNCATED_NORMAL_STD + 1e-6
    limit = math.sqrt(6.0 / (64 + 10))
    assert np.abs(model.logits.weight.detach().numpy()).max() <= limit
    assert not model.logits.bias.detach().numpy().any()


def test_onecycle_rates_equal_kdkeras_schedule():
    from kdkeras import optimizers

    steps_per_epoch, epochs = 10, 20
    total = steps_per_epoch * epochs
    args = torch_peer.parse_args(["--epochs=20", "--batch_size=128"])
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=args.learning_rate, momentum=0.9, nesterov=True)
    scheduler = torch_peer.make_scheduler(torch, optimizer, args, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])  # the rate of this optimizer step
        optimizer.step()
        scheduler.step()
    schedule = optimizers.make_schedule("onecycle", 0.1, total, 0.15)  # float32: abs 1e-8 near the end
    warmup = round(total * 0.15)
    for step in (0, 1, warmup - 1, warmup, warmup + 1, total // 2, total - 1):
        assert rates[step] == pytest.approx(float(schedule(step)), rel=1e-5, abs=1e-8), step
    # The study's own length (20 epochs of 391 batches), from the rate function.
    total = 20 * math.ceil(50_000 / 128)
    schedule = optimizers.make_schedule("onecycle", 0.1, total, 0.15)
    for step in (0, 1173, 1174, 4000, total - 1, total):
        assert torch_peer.onecycle_learning_rate(step, total, 0.1, 0.15) == pytest.approx(
            float(schedule(step)), rel=1e-5, abs=1e-8
        )


def test_torch_onecycle_is_pytorchs_with_momentum_held():
    total = 100
    args = torch_peer.parse_args(["--lr_schedule=torch_onecycle"])
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=args.learning_rate, momentum=0.9, nesterov=True)
    scheduler = torch_peer.make_scheduler(torch, optimizer, args, total)
    rates, momenta = [], set()
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.add(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and momenta == {0.9}
    assert rates[0] == pytest.approx(0.1 / 25) and max(rates) == pytest.approx(0.1)
    assert rates[-1] == pytest.approx(0.1 / 25 / 1e4) and int(np.argmax(rates)) == 14  # 15% of 100, from 0


def test_distillation_loss_against_numpy():
    rng = np.random.default_rng(2)
    student, teacher = rng.normal(0, 3, (5, 4)), rng.normal(0, 3, (5, 4))
    labels = np.array([0, 3, 1, 2, 3])
    t, alpha = 4.0, 0.9

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    ce = -log_softmax(student)[np.arange(5), labels]
    log_p_t, log_p_s = log_softmax(teacher / t), log_softmax(student / t)
    kl = (np.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=1)
    expected = np.mean((1 - alpha) * ce + alpha * t * t * kl)
    loss = torch_peer.distillation_loss(
        torch, torch.tensor(student), torch.tensor(labels), torch.tensor(teacher), t, alpha
    )
    assert float(loss) == pytest.approx(expected, rel=1e-10)


def test_epoch_batches_are_crops_and_flips_of_a_permutation():
    rng = np.random.default_rng(3)
    images = rng.integers(1, 256, (10, 6, 6, 3), dtype=np.uint8)  # no zero pixel: padding is recognisable
    labels = np.arange(10)
    batches = list(torch_peer.augmented_batches(torch, torch.from_numpy(images), torch.from_numpy(labels), 4, 0, 0))
    assert [len(y) for _, y in batches] == [4, 4, 2]  # the last, smaller batch is kept
    seen = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(seen) == list(range(10))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    views = set()
    for pixels, y in batches:
        for crop, label in zip(pixels.permute(0, 2, 3, 1).numpy(), y.numpy()):
            found = [
                (dy, dx, flip)
                for dy in range(9)
                for dx in range(9)
                for flip in (0, 1)
                if np.array_equal(crop, padded[label, dy : dy + 6, dx : dx + 6][:, :: -1 if flip else 1])
            ]
            assert found, label
            views.add(found[0])
    assert len(views) > 3
    again = list(torch_peer.augmented_batches(torch, torch.from_numpy(images), torch.from_numpy(labels), 4, 0, 0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))  # a pure function of (seed, epoch)
    other = list(torch_peer.augmented_batches(torch, torch.from_numpy(images), torch.from_numpy(labels), 4, 0, 1))
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(batches, other))


def test_decoders_give_pil_and_kdkeras_pixels(tmp_path):
    """`pil` decodes with the accurate integer DCT; `tensorflow` exactly as kdkeras's image folders do."""
    import tensorflow as tf

    root = make_image_folder(tmp_path / "images", per_class=(2, 1))
    entries, _ = torch_peer.list_split(str(root), "train")
    pil_x, pil_y = torch_peer.decode_images(entries, str(root), "pil")
    tf_x, tf_y = torch_peer.decode_images(entries, str(root), "tensorflow")
    assert pil_x.shape == tf_x.shape == (6, 32, 32, 3) and pil_x.dtype == np.uint8
    assert list(pil_y) == list(tf_y) == [0, 0, 1, 1, 2, 2]
    for i, (path, _) in enumerate(entries):
        with open(path, "rb") as f:
            data = f.read()
        np.testing.assert_array_equal(tf_x[i], tf.io.decode_image(data, channels=3).numpy())
        np.testing.assert_array_equal(pil_x[i], tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE").numpy())


def test_tiny_run_writes_the_peer_file_and_reuses_finished_models(tmp_path):
    data = make_image_folder(tmp_path / "images")
    output = tmp_path / "results" / "peer.json"
    args = [
        f"--data={data}",
        f"--output={output}",
        f"--work_dir={tmp_path / 'work'}",
        "--teacher=resnet8",
        "--epochs=1",
        "--batch_size=8",
        "--threads=1",
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run(
        [sys.executable, "tools/torch_peer.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    peer = json.loads(output.read_text())
    assert peer["command"] == "python tools/torch_peer.py " + " ".join(args)
    assert peer["torch_version"] == torch.__version__
    assert peer["seeds"] == [0] and peer["epochs"] == 1 and peer["machine"]
    for model in ("teacher", "nokd", "blkd"):
        assert 0.0 <= peer["accuracy"][model] <= 1.0
        assert peer["accuracy"][model] * 9 == pytest.approx(round(peer["accuracy"][model] * 9))  # of 9 test images
        assert peer["train_seconds"][model] > 0
        (epoch,) = peer["per_epoch"][model]
        assert epoch["epoch"] == 1 and epoch["test_accuracy"] == peer["accuracy"][model]
        assert 0.0 <= epoch["train_accuracy"] <= 1.0 and epoch["seconds"] > 0
    assert not [p for p in output.parent.iterdir() if p.name != "peer.json"]  # no temporary file left
    for record in (tmp_path / "work").glob("*/record.json"):  # trained under another commit than the rewrite's
        record.write_text(json.dumps({**json.loads(record.read_text()), "commits": ["abc123"]}))

    again = subprocess.run(
        [sys.executable, "tools/torch_peer.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished before") == 3 and "epoch 1/1" not in again.stdout
    rewritten = json.loads(output.read_text())
    assert rewritten["accuracy"] == peer["accuracy"]
    assert rewritten["commit"] == "abc123"  # what the runs recorded, not the commit of the rewrite


def test_a_stopped_model_resumes_where_it_was(tmp_path, monkeypatch):
    """Killed after epoch 1 of 2, the run goes on from the checkpoint and ends with the same weights."""
    data = make_image_folder(tmp_path / "images")
    torch.set_num_threads(1)

    def trainer(work_dir):
        args = torch_peer.parse_args(
            [f"--data={data}", f"--work_dir={work_dir}", "--epochs=2", "--batch_size=8", "--threads=1"]
        )
        return torch_peer.Trainer(torch, args, torch_peer.load_data(args.data, args.work_dir))

    whole = trainer(tmp_path / "whole").train("nokd_seed0", "resnet8", 0)

    evaluate, calls = torch_peer.evaluate, []

    def stop_after_first_epoch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args)

    monkeypatch.setattr(torch_peer, "evaluate", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        trainer(tmp_path / "stopped").train("nokd_seed0", "resnet8", 0)
    assert (tmp_path / "stopped" / "nokd_seed0" / "checkpoint.pt").exists()
    monkeypatch.setattr(torch_peer, "evaluate", evaluate)
    resumed = trainer(tmp_path / "stopped").train("nokd_seed0", "resnet8", 0)

    assert [e["epoch"] for e in resumed["record"]["per_epoch"]] == [1, 2]
    for name, value in whole["model"].state_dict().items():
        assert torch.equal(value, resumed["model"].state_dict()[name]), name
    assert not (tmp_path / "stopped" / "nokd_seed0" / "checkpoint.pt").exists()


def one_line_error(capsys, argv):
    assert torch_peer.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert "--data=" in one_line_error(capsys, [f"--data={tmp_path / 'missing'}", f"--work_dir={tmp_path}"])
    assert "--epochs=0" in one_line_error(capsys, ["--epochs=0"])
    assert "--student=resnet9" in one_line_error(capsys, ["--student=resnet9"])
    assert "--nope" in one_line_error(capsys, ["--nope"])
    empty = tmp_path / "empty"
    (empty / "train" / "cat").mkdir(parents=True)
    (empty / "test" / "cat").mkdir(parents=True)
    assert "has no images" in one_line_error(capsys, [f"--data={empty}", f"--work_dir={tmp_path}"])


def test_a_work_folder_of_another_recipe_is_refused(tmp_path, capsys):
    data = make_image_folder(tmp_path / "images", per_class=(2, 1))
    common = [f"--data={data}", f"--work_dir={tmp_path / 'work'}", f"--output={tmp_path / 'peer.json'}"]
    tiny = ["--teacher=resnet8", "--batch_size=8", "--threads=1"]
    assert torch_peer.main([*common, *tiny, "--epochs=1"]) == 0
    capsys.readouterr()
    err = one_line_error(capsys, [*common, *tiny, "--epochs=2"])
    assert "another recipe (epochs differ)" in err and "teacher" in err
