"""What identifies a trained model (its key), and the folder of finished models by key (`--model_store`).

A model's key hashes its architecture, its epochs, how it learns, and the
run's settings that determine every model it trains: the `TrainConfig`
fields whose metadata `model_key` is `"data"` or `"recipe"`
(`kdkeras.config.DATA_FIELDS`, `RECIPE_FIELDS`). The key is derived from
those fields, so a field marked there is in the key and no other is: a
recipe field cannot be added to the config and forgotten here, which would
let the store hand back a model trained with another recipe.
"""

import hashlib
import json
import os
import shutil

from kdkeras import io
from kdkeras.config import DATA_FIELDS, RECIPE_FIELDS

__all__ = ["ModelStore", "model_key", "distiller_settings"]

# The order the key has always listed the data fields in; a data field marked later follows them, in field order.
_DATA_ORDER = ("dataset", "validation_fraction", "augment")


def model_key(config, info, arch, epochs, training):
    """What determines a trained model, hashed: architecture, data, recipe, epochs and `training`.

    Args:
        config: the run's `TrainConfig`; its data and recipe fields enter the key.
        info: the data's `DatasetInfo`; its split sizes enter the key beside
            the dataset's name (an image folder may change its content).
        arch: the model's architecture.
        epochs: its training epochs.
        training: how it learns (labels, or a distiller's settings and the
            keys of the models it learns from).

    Two runs that would train the same model compute the same key, whatever
    method they belong to.
    """
    data_fields, recipe_fields = DATA_FIELDS, RECIPE_FIELDS
    data = []
    for name in [n for n in _DATA_ORDER if n in data_fields] + [n for n in data_fields if n not in _DATA_ORDER]:
        data.append(getattr(config, name))
        if name == "dataset":
            data += [info.num_train, info.num_test]
    determined_by = {
        "arch": arch,
        "data": data,
        "recipe": {name: getattr(config, name) for name in recipe_fields},
        "epochs": epochs,
        "training": training,
    }
    return hashlib.sha256(json.dumps(determined_by, sort_keys=True, default=str).encode()).hexdigest()[:32]


class ModelStore:
    """A folder of finished models by key, shared by runs: `<key>.keras` and `<key>.json` (its record).

    A run looks a model up before training it and keeps it there once
    trained, so a study never trains the same model twice.

    Args:
        directory: the store's folder (`--model_store`); empty or None for no store.

    Example:

    ```python
    store = ModelStore("runs/study/models")
    key = model_key(config, splits.info, "resnet8", 10, {"trained_by": "labels", "stop_at_accuracy": None})
    if not store.fetch(key, "runs/blkd", "teacher"):
        ...  # train, save runs/blkd/teacher.keras and teacher.json, then
        store.keep(key, "runs/blkd", "teacher")
    ```

    Reference:
        Content-addressed storage, as in Git's object store:
        https://git-scm.com/book/en/v2/Git-Internals-Git-Objects
    """

    def __init__(self, directory=None):
        self.directory = directory

    def get_config(self):
        return {"directory": self.directory}

    def fetch(self, key, run_dir, role):
        """Copies the model of `key` into `run_dir` as `role` (`.keras` and `.json`); False if the store has none.

        The copied record names the role it has here and the file it came from (`reused_from`).
        """
        if not self.directory:
            return False
        model_path = os.path.join(self.directory, f"{key}.keras")
        record_path = os.path.join(self.directory, f"{key}.json")
        if not (os.path.exists(model_path) and os.path.exists(record_path)):
            return False
        with open(record_path) as f:
            record = json.load(f)
        record.update(role=role, reused_from=os.path.abspath(model_path))
        destination = os.path.join(run_dir, f"{role}.keras")
        io.replace_atomic(destination, lambda temporary: shutil.copyfile(model_path, temporary))
        io.write_json_atomic(os.path.join(run_dir, f"{role}.json"), record)
        print(f"[kdkeras] {role}: the same model was trained before, reusing {model_path}")
        return True

    def keep(self, key, run_dir, role):
        """Copies the finished `role` of `run_dir` (`.keras` and `.json`) into the store as `key`."""
        if not self.directory:
            return
        os.makedirs(self.directory, exist_ok=True)
        for suffix in (".keras", ".json"):
            source = os.path.join(run_dir, f"{role}{suffix}")
            io.replace_atomic(
                os.path.join(self.directory, f"{key}{suffix}"), lambda temporary: shutil.copyfile(source, temporary)
            )


def distiller_settings(distiller):
    """What a distiller's settings add to the key of the model it trains: its config less its models and name."""
    return {
        k: v for k, v in distiller.get_config().items() if not isinstance(v, dict) and k not in ("name", "trainable")
    }
