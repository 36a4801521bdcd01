"""The study's rows: one per finished run, read from its records, or kept from the committed results.csv.

A run's records are read where it trained (`output_dir/<name>/seed<k>`) or from the copy beside the report
(`records.keep`). A run with neither but a row in the report's `results.csv` (its records lost) keeps that
row as it is, so the table regenerates identically; what only the records held (histories, the models'
records) is missing for it, and the report says so.
"""

import csv
import dataclasses
import os

from kdkeras import accounting
from kdkeras.study.records import epoch_history, find_results, load_results

__all__ = [
    "CSV_COLUMNS",
    "Evidence",
    "cost_seconds",
    "step_seconds",
    "collect",
    "committed_rows",
    "external_teacher",
    "training_curves",
    "blkd_models_by_size",
    "label_models_by_size",
]

CSV_COLUMNS = [
    "method",
    "seed",
    "student_arch",
    "student_accuracy",
    "teacher_arch",
    "teacher_accuracy",
    "uses_shared_teacher",
    "models_trained",
    "train_seconds",
    "cache_fill_seconds",
    "shared_teacher_seconds",
    "total_seconds",
    "images_forward",
    "images_backward",
    "teacher_forward_images",
    "train_flops",
    "total_train_flops",
    "student_params",
    "student_flops",
    "int8_size_bytes",
    "int8_accuracy",
    "int8_latency_ms",
    "int8_arena_bytes",
    "int8_flash_bytes",
    "step2_examples",
    "images_by_network",
    "model_accuracies",
    "run_dir",
]

# Per-epoch metrics of the methods' own mechanisms, read from each model's history for results.md.
DIAGNOSTICS = {
    "step2_examples": "WSKD step-2 examples per epoch (the teacher's errors on the views seen)",
    "step2_images": "WSKD images step 2 forwarded and backpropagated per epoch (the errors, or whole batches)",
    "step2_loss": "WSKD step-2 loss",
    "previous_distillation_loss": "GSKD KL term to the previous stage (times T^2)",
    "distillation_loss": "KD term to the teacher (times T^2)",
}

# Per-epoch metrics of each run's final model drawn in curves.png.
CURVE_METRICS = ("accuracy", "distillation_loss", "previous_distillation_loss", "step2_examples")


@dataclasses.dataclass
class Evidence:
    """What the report is written from.

    Args:
        rows: one dict per finished run of a method (`CSV_COLUMNS` and what the report reads besides).
        teachers: `{seed: figures}` of the shared teachers the study trained.
        payloads: every `results.json` at hand.
        lost: `(name, seed)` of the rows kept from the committed results.csv, their records lost.
        outside: the `--teacher_checkpoint` model's record (`external_teacher`), or None.
    """

    rows: list
    teachers: dict
    payloads: list
    lost: list
    outside: dict = None


def typed(text):
    """A results.csv cell as the value it was written from (int, float, bool or text), so it writes back
    as the same text."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if str(value) == text else text
    return text


def committed_rows(path):
    """`{(method, seed): row}` of a results.csv written earlier; `{}` without one."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = [typed_row(row) for row in csv.DictReader(f)]
    return {(row["method"], row["seed"]): row for row in rows}


def typed_row(row):
    """A results.csv row (`{column: text}`) with each cell `typed`."""
    return {key: typed(value) for key, value in row.items()}


def teacher_rows(plan):
    """`{seed: figures}` of each shared teacher trained by the study, from its records."""
    out = {}
    if not plan.trains_shared_teacher:
        return out
    for seed in plan.all_seeds:
        payload, _ = find_results(plan.teacher_dir(seed), plan.records_dir(None, seed))
        if payload is not None:
            work = accounting.run_work(payload)
            out[seed] = {
                "seed": seed,
                "arch": payload["student"]["arch"],
                "accuracy": payload["student"]["test_accuracy"],
                "seconds": work.train_seconds,
                "flops": work.flops,
                "payload": payload,
            }
    return out


def teachers_from_rows(plan, rows):
    """`{seed: figures}` of shared teachers whose records are lost, from the rows of the methods that used them."""
    out = {}
    for row in rows:
        if row.get("records_lost") and row["uses_shared_teacher"] is True and row["teacher_arch"]:
            out.setdefault(
                row["seed"],
                {
                    "seed": row["seed"],
                    "arch": row["teacher_arch"],
                    "accuracy": row["teacher_accuracy"],
                    "seconds": row["shared_teacher_seconds"],
                    "flops": row["total_train_flops"] - row["train_flops"],
                    "payload": None,
                },
            )
    return out


def external_teacher(plan):
    """The `--teacher_checkpoint` model's own record, from the `results.json` of the run that saved it.

    The checkpoint is the file a run saved for one of its models (`<role>.keras`), so its record is the one
    of that role; read beside the checkpoint, else from the copy kept beside the report. None when there is
    no such record.
    """
    if not plan.recipe.teacher_checkpoint:
        return None
    path = os.path.abspath(plan.recipe.teacher_checkpoint)
    payload, _ = find_results(os.path.dirname(path), plan.kept_teacher_dir)
    role = os.path.basename(path).removesuffix(".keras")
    record = next((r for r in (payload or {}).get("models", []) if r.get("role") == role), None)
    if record is None:
        return None
    return {
        "arch": record["arch"],
        "accuracy": record["test_accuracy"],
        "seconds": record["train_seconds"],
        "epochs": record.get("epochs"),
        "trained_by": record.get("trained_by"),
        "commit": payload.get("provenance", {}).get("kdkeras_commit", "not recorded"),
        "flags": payload.get("flags", {}),
    }


def lost_external_teacher(plan, rows):
    """The `--teacher_checkpoint` model as the rows that learned from it recorded it, when its own record is
    lost and those rows name one model (one architecture and accuracy); else None."""
    if not plan.recipe.teacher_checkpoint:
        return None
    seen = {
        (r["teacher_arch"], r["teacher_accuracy"])
        for r in rows
        if r.get("records_lost") and r["uses_shared_teacher"] is True and r["teacher_arch"]
    }
    if len(seen) != 1:
        return None
    arch, accuracy = seen.pop()
    return {"arch": arch, "accuracy": accuracy, "seconds": None, "record_lost": True, "flags": {}}


def row_of(plan, name, seed, payload, records_dir, shared):
    """The results row of a finished run, from its `results.json` and records."""
    work = accounting.run_work(payload)
    uses = plan.uses_shared_teacher(name)
    teacher = payload.get("teacher") or {}
    student = payload["student"]
    int8 = (payload.get("edge") or {}).get("int8") or {}
    footprint = load_results(records_dir, "tflm_footprint.json") or {}
    row = {
        "method": name,
        "seed": seed,
        "student_arch": student["arch"],
        "student_accuracy": student["test_accuracy"],
        "teacher_arch": teacher.get("arch", ""),
        "teacher_accuracy": teacher.get("test_accuracy", ""),
        "uses_shared_teacher": uses,
        "models_trained": work.models_trained,
        "train_seconds": work.train_seconds,
        "cache_fill_seconds": work.cache_seconds,
        "shared_teacher_seconds": shared["seconds"] if uses else 0.0,
        "images_forward": work.images_forward,
        "images_backward": work.images_backward,
        "teacher_forward_images": work.images_forward - work.images_backward,
        "train_flops": work.flops,
        "student_params": student["params"],
        "student_flops": student["flops"],
        "int8_size_bytes": int8.get("size_bytes", ""),
        "int8_accuracy": int8.get("accuracy", ""),
        "int8_latency_ms": (int8.get("latency_ms") or {}).get("median", ""),
        "int8_arena_bytes": footprint.get("arena_bytes", ""),
        "int8_flash_bytes": footprint.get("flash_bytes", ""),
        # Examples of updates beyond one per batch (WSKD's step 2), from the recorded counts.
        "step2_examples": sum(
            r.get("images_trained", 0) - r.get("epochs", 0) * payload["data"]["num_train"]
            for r in payload["models"]
            if r.get("taught_by")
        )
        or "",
        "images_by_network": work.describe(),
        "model_accuracies": "; ".join(f"{r['role']}({r['arch']})={r['test_accuracy']:.4f}" for r in payload["models"]),
        "run_dir": plan.run_dir(name, seed),
        "records_dir": records_dir,
        "final_role": payload["models"][-1]["role"],
        "blkd_models": [
            {"arch": r["arch"], "accuracy": r["test_accuracy"], "role": r["role"]}
            for r in payload["models"]
            if uses and r.get("trained_by") == "Distiller" and r.get("taught_by") == ["teacher"]
        ],
        "label_models": label_records(payload, name),
        "diagnostics": diagnostics(records_dir, payload),
    }
    row["total_seconds"] = round(row["train_seconds"] + row["shared_teacher_seconds"], 3)
    row["total_train_flops"] = row["train_flops"] + (shared["flops"] if uses else 0)
    return row


def step_seconds(row):
    """The row's training seconds without the teacher-cache fill its run did (a fill serves every cached run of
    its seed, and each row's images count it); a row kept from an older results.csv, as recorded."""
    fill = row.get("cache_fill_seconds")
    return row["train_seconds"] - (fill if isinstance(fill, (int, float)) else 0.0)


def cost_seconds(row):
    """`step_seconds` and the shared teacher's training where the method uses it (`total_seconds` holds both)."""
    return step_seconds(row) + row["total_seconds"] - row["train_seconds"]


def lost_row(committed):
    """A committed results.csv row kept for a run whose records are lost: nothing beyond its columns is known."""
    return {
        **committed,
        "records_lost": True,
        "final_role": None,
        "blkd_models": [],
        "label_models": [],
        "diagnostics": {},
    }


def collect(plan):
    """The `Evidence` of every finished run of the plan (see the module's docstring for where it is read)."""
    committed = committed_rows(os.path.join(plan.report_dir, "results.csv"))
    teachers = teacher_rows(plan)
    rows, lost, payloads = [], [], [t["payload"] for t in teachers.values()]
    for name, seed in plan.pairs():
        payload, records_dir = find_results(plan.run_dir(name, seed), plan.records_dir(name, seed))
        if payload is not None:
            payloads.append(payload)
            shared = teachers.get(seed, {"seconds": 0.0, "flops": 0})
            rows.append(row_of(plan, name, seed, payload, records_dir, shared))
        elif committed.get((name, seed), {}).get("run_dir") == plan.run_dir(name, seed):  # this study's row
            rows.append(lost_row(committed[(name, seed)]))
            lost.append((name, seed))
    found_teachers = {**teachers_from_rows(plan, rows), **teachers} if plan.trains_shared_teacher else teachers
    ordered = {seed: found_teachers[seed] for seed in plan.all_seeds if seed in found_teachers}
    return Evidence(rows, ordered, payloads, lost, external_teacher(plan) or lost_external_teacher(plan, rows))


def diagnostics(records_dir, payload):
    """`{role: {metric: (first epoch, last epoch)}}` of the DIAGNOSTICS a run's distilled models logged."""
    out = {}
    for record in payload["models"]:
        if not record.get("taught_by"):
            continue
        rows = epoch_history(os.path.join(records_dir, f"{record['role']}_history.csv"))
        found = {m: (float(rows[0][m]), float(rows[-1][m])) for m in DIAGNOSTICS if rows and rows[0].get(m)}
        if "step2_examples" in found or "previous_distillation_loss" in found:
            out[record["role"]] = found
    return out


def training_curves(rows):
    """`{method: {metric: {seed: [value of each epoch]}}}` of each run's final model, from its history.

    The final model is the one a method delivers (the student, GSKD's last stage); a metric it did not log
    in every epoch is left out, and so is a row whose records are lost.
    """
    curves = {}
    for row in rows:
        if row.get("records_lost"):
            continue
        folder = row.get("records_dir") or row["run_dir"]
        history = epoch_history(os.path.join(folder, f"{row['final_role']}_history.csv"))
        for metric in CURVE_METRICS:
            values = [float(h[metric]) for h in history if h.get(metric) not in (None, "", "NA")]
            if history and len(values) == len(history):
                curves.setdefault(row["method"], {}).setdefault(metric, {})[row["seed"]] = values
    return curves


def blkd_models_by_size(rows):
    """`{(seed, arch): (accuracy, where)}`: every model BLKD's loss trained from the shared teacher, in any run.

    Such a model is determined by its architecture, seed and the recipe, whichever method trained it (BLKD's
    student, TAKD's assistant); a method whose final model is larger than BLKD's student (GSKD) is compared
    with the one of its size.
    """
    found = {}
    for row in rows:
        for model in row.get("blkd_models", []):
            found.setdefault((row["seed"], model["arch"]), (model["accuracy"], f"{row['method']} {model['role']}"))
    return found


def label_records(payload, method=None, where=None):
    """`[{arch, accuracy, epochs, where}]`: the models of a results.json trained on labels alone.

    `where` names them, by default `method` and each model's role.
    """
    return [
        {
            "arch": r["arch"],
            "accuracy": r["test_accuracy"],
            "epochs": r.get("epochs"),
            "where": where or f"{method} {r['role']}",
        }
        for r in payload.get("models", [])
        if r.get("trained_by") == "labels" and r.get("epochs")
    ]


def label_models_by_size(rows, epochs, teachers=None, outside=None):
    """`{(seed, arch): (accuracy, where)}`: for each seed and network, its training on labels alone.

    Found in any run (NOKD's student, Tf-KD self's or Re-KD's teacher) and in the shared teacher, trained by
    the study for each seed or once outside it (on labels, with the `--seed` its record names). A training of
    the methods' `epochs` is preferred, else the longest; one shorter than `epochs` (De-KD's teacher, stopped
    early on purpose) is never a reference.
    """
    candidates = [(row["seed"], model) for row in rows for model in row.get("label_models", [])]
    for seed, teacher in (teachers or {}).items():
        if teacher.get("payload"):
            candidates += [(seed, m) for m in label_records(teacher["payload"], where="shared teacher")]
    if outside and outside.get("trained_by") == "labels" and outside.get("flags", {}).get("seed") is not None:
        where = "shared teacher (`--teacher_checkpoint`)"
        candidates.append((outside["flags"]["seed"], {**outside, "where": where}))
    found = {}
    for seed, model in candidates:
        if not model.get("epochs") or model["epochs"] < epochs:
            continue
        rank = (model["epochs"] == epochs, model["epochs"])
        best = found.get((seed, model["arch"]))
        if best is None or rank > best[2]:
            found[(seed, model["arch"])] = (model["accuracy"], f"{model['where']}, {model['epochs']} epochs", rank)
    return {key: (accuracy, where) for key, (accuracy, where, _) in found.items()}
