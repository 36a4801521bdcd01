"""Each method's pipeline, held to its definition (README.md, "The methods")."""

import csv

import pytest

from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError
from kdkeras.experiment import train


def config(tmp_path, **changes):
    settings = dict(
        dataset="mnist_sample",
        teacher="plain2",
        student="plain2",
        epochs=1,
        teacher_epochs=1,
        batch_size=256,
        optimizer="adam",
        learning_rate=0.01,
        verbose=0,
        output_dir=str(tmp_path / "run"),
    )
    settings.update(changes)
    return TrainConfig(**settings).validate()


def roles(results):
    return [(m["role"], m["arch"]) for m in results["models"]]


@pytest.mark.slow  # 37 s; the default suite must stay under 10 minutes on 2 AVX2 cores
def test_takd_chain_runs_teacher_assistants_student_in_order(tmp_path):
    results = train(
        config(tmp_path, method="takd", teacher="plain6", assistants=("plain4", "plain2"), student="plain2")
    )
    assert roles(results) == [
        ("teacher", "plain6"),
        ("assistant1", "plain4"),
        ("assistant2", "plain2"),
        ("student", "plain2"),
    ]
    assert [m.get("taught_by") for m in results["models"][1:]] == [["teacher"], ["assistant1"], ["assistant2"]]
    assert all(m["trained_by"] == "Distiller" for m in results["models"][1:])
    assert all(m["teacher_cache"] for m in results["models"][1:])


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_rekd_swaps_the_roles(tmp_path):
    results = train(config(tmp_path, method="rekd", teacher="plain4", student="plain2"))
    assert roles(results) == [("teacher", "plain2"), ("student", "plain4")]
    assert results["teacher"]["params"] < results["student"]["params"]
    assert results["models"][1]["teacher_cache"]


@pytest.mark.slow  # an end-to-end training of over ten seconds: in `pytest -m slow`
def test_dekd_stops_the_teacher_at_the_accuracy_reached(tmp_path):
    results = train(config(tmp_path, method="dekd", teacher_epochs=5, defective_teacher_accuracy=0.05))
    assert results["models"][0]["epochs"] == 1
    assert results["models"][1]["teacher_cache"]


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_tfkd_self_teaches_with_its_own_architecture(tmp_path):
    results = train(config(tmp_path, method="tfkd_self", teacher="resnet8", student="plain2"))
    assert roles(results) == [("teacher", "plain2"), ("student", "plain2")]


def test_tfkd_reg_trains_no_teacher(tmp_path):
    results = train(config(tmp_path, method="tfkd_reg", tfkd_correct_prob=0.95))
    assert roles(results) == [("student", "plain2")] and results["teacher"] is None
    assert results["models"][0]["trained_by"] == "VirtualTeacherDistiller"


@pytest.mark.slow  # an end-to-end training of over ten seconds: in `pytest -m slow`
def test_wskd_reports_step_two_examples(tmp_path):
    results = train(config(tmp_path, method="wskd", wskd_correction="swap"))
    assert results["models"][1]["trained_by"] == "WiseStudentDistiller" and results["models"][1]["teacher_cache"]
    with open(tmp_path / "run" / "student_history.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["step2_examples"]) > 0


@pytest.mark.slow  # 45 s; the default suite must stay under 10 minutes on 2 AVX2 cores
def test_gskd_grows_through_stages_to_a_new_teacher(tmp_path):
    results = train(
        config(tmp_path, method="gskd", teacher="plain6", stages=("plain2", "plain4"), grow_to_teacher=True)
    )
    assert roles(results) == [("teacher", "plain6"), ("stage1", "plain2"), ("stage2", "plain4"), ("stage3", "plain6")]
    assert [m["trained_by"] for m in results["models"][1:]] == [
        "Distiller",
        "GrowingStudentDistiller",
        "GrowingStudentDistiller",
    ]
    assert results["models"][2]["taught_by"] == ["teacher", "stage1"]
    assert results["new_teacher"]["arch"] == "plain6" and results["student"]["arch"] == "plain6"
    assert (tmp_path / "run" / "student.keras").exists()


def test_gskd_refuses_stages_not_growing(tmp_path):
    with pytest.raises(UsageError, match="grow"):
        train(config(tmp_path, method="gskd", stages=("plain4", "plain2")))


@pytest.mark.parametrize(
    "method, extra",
    [
        ("blkd", {}),
        pytest.param("blkd", {"augment": True, "epochs": 2}, marks=pytest.mark.slow, id="blkd-augment"),
        pytest.param("wskd", {}, marks=pytest.mark.slow),
        pytest.param("gskd", {"stages": ("plain2", "plain4")}, marks=pytest.mark.slow),
    ],
)
def test_teacher_cache_gives_the_same_result(tmp_path, method, extra):
    import keras
    import numpy as np

    from kdkeras import data

    outcomes = {}
    for cache in ("on", "off"):
        results = train(
            config(
                tmp_path / cache,
                method=method,
                teacher_cache=cache,
                seed=3,
                optimizer="sgd",
                learning_rate=0.05,
                **extra,
            )
        )
        assert [m.get("teacher_cache") for m in results["models"][1:]] == [cache == "on"] * (len(results["models"]) - 1)
        outcomes[cache] = (results, keras.models.load_model(tmp_path / cache / "run" / "student.keras"))
    # Same seed, same shuffling, same teacher logits: on this machine the two
    # students are bit-identical; allow float rounding of the teacher's
    # forward pass in predict() versus in the train step elsewhere.
    images = next(iter(data.load("mnist_sample", batch_size=256).test))[0]
    on, off = (np.asarray(outcomes[c][1](images)) for c in ("on", "off"))
    np.testing.assert_allclose(on, off, atol=1e-4)
    weights = [outcomes[c][1].get_weights() for c in ("on", "off")]
    print(f"max weight difference, cache on vs off: {max(float(np.max(np.abs(a - b))) for a, b in zip(*weights)):.3g}")
    accuracies = [outcomes[c][0]["student"]["test_accuracy"] for c in ("on", "off")]
    assert abs(accuracies[0] - accuracies[1]) <= 0.001


@pytest.mark.slow
def test_a_second_run_in_the_output_tree_reuses_the_teacher_cache(tmp_path):
    """Two methods learning from one teacher, with augmentation: the second fills nothing."""
    shared = dict(augment=True, epochs=2, teacher_cache_dir=str(tmp_path / "cache"))
    first = train(config(tmp_path / "blkd", method="blkd", **shared))
    teacher = str(tmp_path / "blkd" / "run" / "teacher.keras")
    second = train(config(tmp_path / "wskd", method="wskd", teacher_checkpoint=teacher, **shared))
    (filled,), (reused,) = first["models"][1]["caches"], second["models"][1]["caches"]
    assert (
        filled["filled"]
        and filled["fill_images"] == 2 * 8000
        and filled["views"] == 2
        and filled["bytes"] > 2 * 8000 * 10 * 4
    )
    assert not reused["filled"] and reused["fill_images"] == 0 and reused["cache"] == filled["cache"]
    assert second["models"][1]["cache_seconds"] == 0.0
