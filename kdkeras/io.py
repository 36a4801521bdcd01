"""Writing files so that an interrupted run never leaves half of one."""

import csv
import hashlib
import json
import os
import tempfile

from kdkeras.errors import TrainingError


def _temporary_beside(path, suffix):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(handle)
    return temporary


def replace_atomic(path, write):
    """Calls `write(temporary_path)`, then renames the result onto `path`.

    The rename is atomic on POSIX, so `path` holds either its old content or
    the complete new one, never a part.

    Raises:
        TrainingError: the write failed for the system (a full disk, no
            permission): one line naming `path`, whose previous version is
            intact.
    """
    name = os.path.basename(path)
    suffix = "." + name.split(".", 1)[1] if "." in name else ""  # `.weights.h5` as Keras requires
    temporary = None
    try:
        temporary = _temporary_beside(path, suffix)
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        kept = "its previous version is kept" if os.path.exists(path) else "nothing was written there"
        raise TrainingError(f"could not write {path}: {error.strerror or error}; {kept}") from error
    except BaseException:
        _remove(temporary)
        raise


def _remove(temporary):
    if temporary and os.path.exists(temporary):
        os.remove(temporary)


def write_json_atomic(path, payload):
    """Writes `payload` as indented JSON to `path`, atomically."""

    def write(temporary):
        with open(temporary, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=False)
            f.write("\n")

    replace_atomic(path, write)


def write_csv_atomic(path, columns, rows, **options):
    """Writes `rows` (dicts) under the header `columns` to `path`, atomically; `options` go to
    `csv.DictWriter` (for example `restval`, `extrasaction`)."""

    def write(temporary):
        with open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns), **options)
            writer.writeheader()
            writer.writerows(rows)

    replace_atomic(path, write)


def write_bytes_atomic(path, data):
    """Writes `data` to `path`, atomically."""

    def write(temporary):
        with open(temporary, "wb") as f:
            f.write(data)

    replace_atomic(path, write)


def save_model_atomic(model, path):
    """Saves a Keras model as `.keras` to `path`, atomically, in Keras's own layers.

    kdkeras's `FusedBatchNormalization` is saved as the Keras layer it
    computes, so the file loads without kdkeras.
    """
    from kdkeras.models.fused_batch_norm import with_keras_batch_norm

    replace_atomic(path, with_keras_batch_norm(model).save)


def file_sha256(path):
    """SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
