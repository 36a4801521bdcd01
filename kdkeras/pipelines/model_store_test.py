import dataclasses
import hashlib
import json
import os

import pytest

from kdkeras.config import DATA_FIELDS, RECIPE_FIELDS, TrainConfig
from kdkeras.data import DatasetInfo
from kdkeras.pipelines.model_store import ModelStore, model_key

INFO = DatasetInfo(name="cifar10", input_shape=(32, 32, 3), num_classes=10, num_train=45000, num_test=10000)
TRAINING = {"trained_by": "Distiller", "settings": {"temperature": 4.0, "alpha": 0.9}, "taught_by": ["0123abcd"]}
SAMPLE = TrainConfig(
    dataset="cifar10",
    augment=True,
    validation_fraction=0.1,
    batch_size=64,
    optimizer="adam",
    learning_rate=0.05,
    momentum=0.8,
    weight_decay=1e-4,
    weight_decay_mode="l2",
    lr_schedule="onecycle",
    warmup_fraction=0.3,
    seed=3,
    mixed_precision=True,
)


def key_as_written_before(config, info, arch, epochs, training):
    """The key as `Run.model_key` wrote it by hand before it was derived from the fields (the stores hold these)."""
    determined_by = {
        "arch": arch,
        "data": [config.dataset, info.num_train, info.num_test, config.validation_fraction, config.augment],
        "recipe": {
            k: getattr(config, k)
            for k in (
                "batch_size",
                "optimizer",
                "learning_rate",
                "momentum",
                "weight_decay",
                "weight_decay_mode",
                "lr_schedule",
                "warmup_fraction",
                "seed",
                "mixed_precision",
            )
        },
        "epochs": epochs,
        "training": training,
    }
    return hashlib.sha256(json.dumps(determined_by, sort_keys=True, default=str).encode()).hexdigest()[:32]


@pytest.mark.parametrize("config", [TrainConfig(), SAMPLE], ids=["defaults", "sample"])
def test_the_key_is_the_one_stored_models_and_published_studies_were_filed_under(config):
    for arch, epochs, training in [("resnet8", 10, TRAINING), ("resnet26", 240, {"trained_by": "labels"})]:
        assert model_key(config, INFO, arch, epochs, training) == key_as_written_before(
            config, INFO, arch, epochs, training
        )


def changed(value):
    """A value of the same kind as `value` that differs from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, tuple):
        return value + ("resnet8",)
    if value is None:
        return "x"
    return value + "x"


def test_the_data_and_recipe_fields_are_those_marked_in_the_config():
    marked = {f.name: f.metadata["model_key"] for f in dataclasses.fields(TrainConfig) if f.metadata["model_key"]}
    assert set(DATA_FIELDS) == {n for n, part in marked.items() if part == "data"}
    assert set(RECIPE_FIELDS) == {n for n, part in marked.items() if part == "recipe"}
    assert {"dataset", "augment", "validation_fraction"} <= set(DATA_FIELDS)
    assert {"batch_size", "learning_rate", "seed"} <= set(RECIPE_FIELDS)


@pytest.mark.parametrize("field", DATA_FIELDS + RECIPE_FIELDS)
def test_changing_a_data_or_recipe_field_changes_the_key(field):
    other = dataclasses.replace(SAMPLE, **{field: changed(getattr(SAMPLE, field))})
    assert model_key(other, INFO, "resnet8", 10, TRAINING) != model_key(SAMPLE, INFO, "resnet8", 10, TRAINING)


OTHER_FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in DATA_FIELDS + RECIPE_FIELDS]


@pytest.mark.parametrize("field", OTHER_FIELDS)
def test_changing_any_other_field_leaves_the_key(field):
    # What teaches a model (method, temperature, ...) enters through `training`; the others never.
    other = dataclasses.replace(SAMPLE, **{field: changed(getattr(SAMPLE, field))})
    assert model_key(other, INFO, "resnet8", 10, TRAINING) == model_key(SAMPLE, INFO, "resnet8", 10, TRAINING)


def test_the_key_changes_with_the_architecture_epochs_training_and_the_split_sizes():
    base = model_key(SAMPLE, INFO, "resnet8", 10, TRAINING)
    smaller = dataclasses.replace(INFO, num_train=44999)
    others = [
        model_key(SAMPLE, INFO, "resnet14", 10, TRAINING),
        model_key(SAMPLE, INFO, "resnet8", 11, TRAINING),
        model_key(SAMPLE, INFO, "resnet8", 10, dict(TRAINING, taught_by=["4567efgh"])),
        model_key(SAMPLE, smaller, "resnet8", 10, TRAINING),
    ]
    assert len({base, *others}) == 5 and all(len(k) == 32 for k in others)


def write_role(directory, role, record):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{role}.keras"), "wb") as f:
        f.write(b"model bytes of " + role.encode())
    with open(os.path.join(directory, f"{role}.json"), "w") as f:
        json.dump(record, f)


def test_a_kept_model_is_fetched_into_another_run_under_its_role_naming_where_it_came_from(tmp_path):
    store = ModelStore(str(tmp_path / "store"))
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    write_role(first, "teacher", {"role": "teacher", "test_accuracy": 0.5})
    assert not store.fetch("k1", second, "student")  # nothing kept yet
    store.keep("k1", first, "teacher")
    assert sorted(os.listdir(tmp_path / "store")) == ["k1.json", "k1.keras"]
    assert store.fetch("k1", second, "stage2")
    assert open(os.path.join(second, "stage2.keras"), "rb").read() == b"model bytes of teacher"
    record = json.load(open(os.path.join(second, "stage2.json")))
    assert record == {
        "role": "stage2",
        "test_accuracy": 0.5,
        "reused_from": os.path.abspath(str(tmp_path / "store" / "k1.keras")),
    }


def test_no_store_keeps_and_finds_nothing(tmp_path):
    write_role(str(tmp_path / "run"), "teacher", {"role": "teacher"})
    for store in (ModelStore(None), ModelStore("")):
        store.keep("k1", str(tmp_path / "run"), "teacher")
        assert not store.fetch("k1", str(tmp_path / "other"), "teacher")
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_a_store_with_a_model_but_no_record_finds_nothing(tmp_path):
    (tmp_path / "k1.keras").write_bytes(b"half a store")
    assert not ModelStore(str(tmp_path)).fetch("k1", str(tmp_path / "run"), "teacher")
    assert not os.path.exists(tmp_path / "run")
