#!/usr/bin/env python
"""`python tools/compare.py --flagfile=configs/compare/mnist_sample.flags`: every KD method on one recipe.

Runs each method of `--methods` for each seed of `--seeds` with the same
recipe (every `kdkeras.train` flag: data, epochs, schedule, augmentation),
in `output_dir/<method>/seed<k>`, through `kdkeras.train.train` in this
process, and writes in `--output_dir` (each file atomically, refreshed after
every run):

- `results.csv`: one row per method and seed;
- `results.md`: a table per method (mean ± std over seeds) and the recipe;
- `cost.png`: student accuracy against training cost (seconds and FLOPs);
- `latency.png`: student accuracy against int8 TFLite latency (only when
  the `edge` package measured it).

The teacher is trained once per seed, as `output_dir/teacher/seed<k>` (a
label-only run of the `--teacher` architecture for `--teacher_epochs`), and
handed as `--teacher_checkpoint` to the methods that learn from a fixed,
trained teacher: blkd, takd, wskd, gskd. dekd trains its own (defective)
teacher, rekd and tfkd_self their own small teacher, nokd and tfkd_reg none.
`--teacher_checkpoint` given to compare is used as the shared teacher of
every seed instead (then no teacher is trained).

A run whose `results.json` exists is not repeated, so starting the same
command again resumes where it stopped; a run interrupted mid-way resumes
through `kdkeras.train`'s own per-model reuse and backups.

How work is counted (per training run, from `results.json` records):

- a model trained for `e` epochs on `N` training examples passes `e * N`
  images forward and `e * N` backward (WSKD's student adds, forward and
  backward, the examples of its second update: the `step2_examples` it
  logs per epoch);
- a fixed network a distiller learns from (teacher, assistant, previous
  GSKD stage) passes `e * N` images forward, or `N` once when its logits
  were cached (`--teacher_cache`); no backward;
- evaluation passes (test accuracy, validation) are not counted;
- training FLOPs = sum over networks of `forward_images * F +
  backward_images * 2F`, `F` the network's forward FLOPs per image
  (`kdkeras.models.count_flops`: 2 per multiply-accumulate), taking a
  backward pass as about twice a forward one;
- the shared teacher's training is counted once per seed (its own row in
  results.md); each method's `total_*` columns add it for the methods that
  use it, i.e. the cost of that student from scratch.
"""

import csv
import dataclasses
import importlib
import inspect
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from kdkeras import cli, io  # noqa: E402
from kdkeras import train as kdtrain  # noqa: E402  (defines every training flag: the shared recipe)
from kdkeras.errors import UsageError, check  # noqa: E402
from kdkeras.config import METHODS  # noqa: E402

USES_SHARED_TEACHER = ("blkd", "takd", "wskd", "gskd")
EDGE_MODES = ("auto", "on", "off")

flags.DEFINE_list("methods", list(METHODS), "methods to compare, comma-separated: " + ", ".join(METHODS))
flags.DEFINE_string(
    "seeds", "3", "a count N (seeds --seed .. --seed+N-1) or a comma-separated list of seeds (e.g. 0,1,2)"
)
flags.DEFINE_string("edge", "auto", "int8 TFLite size/accuracy/latency with the edge package: auto, on, off")
flags.DEFINE_integer(
    "dekd_teacher_epochs", 0, "dekd: epochs of its defective teacher (0: --teacher_epochs, stopped by --defective_teacher_accuracy)"
)
FLAGS = flags.FLAGS
FLAGS.set_default("output_dir", "runs/compare")

CSV_COLUMNS = [
    "method", "seed", "student_arch", "student_accuracy", "teacher_arch", "teacher_accuracy",
    "uses_shared_teacher", "models_trained", "train_seconds", "wall_seconds", "shared_teacher_seconds",
    "total_seconds", "images_forward", "images_backward", "teacher_forward_images", "train_flops",
    "total_train_flops", "student_params", "student_flops", "int8_size_bytes", "int8_accuracy",
    "int8_latency_ms", "int8_arena_bytes", "int8_flash_bytes", "images_by_network", "model_accuracies", "run_dir",
]


# --- the plan -------------------------------------------------------------------------------------------------


def parse_seeds(text, base):
    """`--seeds`: a count N gives base..base+N-1; a comma list gives those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"--seeds={text}: expected a count (e.g. 3) or a comma-separated list of integers (e.g. 0,1,2)") from None
    check(values, f"--seeds={text}: expected a count (e.g. 3) or a comma-separated list of integers")
    if len(values) == 1 and "," not in text:
        check(values[0] >= 1, f"--seeds={text}: expected a count >= 1")
        return list(range(base, base + values[0]))
    check(len(set(values)) == len(values), f"--seeds={text}: a seed is listed twice")
    return values


def parse_methods(values):
    methods = [m.strip() for m in values if m.strip()]
    check(methods, "--methods: expected at least one of " + ", ".join(METHODS))
    for m in methods:
        check(m in METHODS, f"--methods: {m!r} is not a method; expected names from {', '.join(METHODS)}")
    check(len(set(methods)) == len(methods), "--methods: a method is listed twice")
    return methods


@dataclasses.dataclass
class Plan:
    recipe: object  # TrainConfig: the shared recipe
    methods: list
    seeds: list
    output_dir: str
    edge: str
    dekd_teacher_epochs: int

    @property
    def shared_teacher_needed(self):
        return any(m in USES_SHARED_TEACHER for m in self.methods)

    @property
    def trains_shared_teacher(self):
        return self.shared_teacher_needed and not self.recipe.teacher_checkpoint

    def teacher_dir(self, seed):
        return os.path.join(self.output_dir, "teacher", f"seed{seed}")

    def teacher_checkpoint(self, seed):
        if self.recipe.teacher_checkpoint:
            return os.path.abspath(self.recipe.teacher_checkpoint)
        return os.path.abspath(os.path.join(self.teacher_dir(seed), "student.keras"))

    def teacher_config(self, seed):
        r = self.recipe
        return dataclasses.replace(
            r, method="nokd", student=r.teacher, epochs=r.teacher_epochs, seed=seed,
            output_dir=self.teacher_dir(seed), teacher_checkpoint=None, export=(),
        )

    def method_config(self, method, seed):
        r = self.recipe
        changes = dict(method=method, seed=seed, output_dir=os.path.join(self.output_dir, method, f"seed{seed}"), export=())
        changes["teacher_checkpoint"] = self.teacher_checkpoint(seed) if method in USES_SHARED_TEACHER else None
        if method == "dekd" and self.dekd_teacher_epochs:
            changes["teacher_epochs"] = self.dekd_teacher_epochs
        return dataclasses.replace(r, **changes)

    def runs(self):
        """`(label, method or None for the shared teacher, seed, config)` in training order."""
        out = []
        for seed in self.seeds:
            if self.trains_shared_teacher:
                out.append((f"shared teacher ({self.recipe.teacher}) seed {seed}", None, seed, self.teacher_config(seed)))
            for method in self.methods:
                out.append((f"{method} seed {seed}", method, seed, self.method_config(method, seed)))
        return out


def plan_from_flags(values):
    check(not values["method"].present, "--method: compare runs every method of --methods; remove --method")
    recipe = kdtrain.config_from_flags(values)
    edge = values.edge.strip().lower()
    check(edge in EDGE_MODES, f"--edge={values.edge}: expected one of {', '.join(EDGE_MODES)}")
    check(values.dekd_teacher_epochs >= 0, f"--dekd_teacher_epochs={values.dekd_teacher_epochs}: expected an integer >= 0")
    plan = Plan(
        recipe=recipe,
        methods=parse_methods(values.methods),
        seeds=parse_seeds(values.seeds, recipe.seed),
        output_dir=recipe.output_dir,
        edge=edge,
        dekd_teacher_epochs=values.dekd_teacher_epochs,
    )
    # Every run's settings are checked before anything is trained.
    for _, _, _, config in plan.runs():
        config.validate()
    return plan


# --- running --------------------------------------------------------------------------------------------------


def load_results(run_dir):
    path = os.path.join(run_dir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def run_all(plan, edge_api):
    """Trains every run not finished yet; returns the labels of the runs that failed."""
    runs = plan.runs()
    total = len(runs)
    start = time.perf_counter()
    failed = []
    for index, (label, method, seed, config) in enumerate(runs, start=1):
        prefix = f"[compare] run {index}/{total}: {label}"
        payload = load_results(config.output_dir)
        if payload is not None:
            print(f"{prefix}: finished earlier, skipped ({config.output_dir})", flush=True)
        elif method in USES_SHARED_TEACHER and not os.path.isfile(config.teacher_checkpoint):
            print(f"{prefix}: not run, the shared teacher {config.teacher_checkpoint} is missing", flush=True)
            failed.append(label)
            continue
        else:
            print(f"{prefix}: training in {config.output_dir}", flush=True)
            t0 = time.perf_counter()
            try:
                kdtrain.train(config)
            except UsageError:
                raise
            except Exception as error:  # e.g. a diverged run: the others still run; this one resumes next time
                print(f"{prefix}: FAILED ({type(error).__name__}: {error}); going on with the others", flush=True)
                failed.append(label)
                continue
            finally:
                _clear_session()
            print(f"{prefix}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        if method is not None and edge_api is not None:
            measure_edge(edge_api, config)
        write_summary(plan, edge_api)
    write_summary(plan, edge_api)
    print(f"[compare] {total - len(failed)} of {total} runs finished ({time.perf_counter() - start:.1f} s this time); "
          f"results in {os.path.join(plan.output_dir, 'results.md')}", flush=True)
    return failed


def _clear_session():
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


# --- edge (optional) ------------------------------------------------------------------------------------------


class EdgeApi:
    """`edge.export_tflite` and `edge.benchmark_tflite`, called with the arguments their signatures name.

    `export_tflite(model, quantization, output_path, train_data=...)` takes
    a Keras model and a training pipeline for int8 calibration;
    `benchmark_tflite` is given the `.tflite` path and whichever of the
    dataset name, test pipeline and thread count it asks for. It returns
    a dict with `accuracy`, `size_bytes` and `latency_ms` (a number, or a
    dict with `median`).
    """

    def __init__(self, module):
        self.export_tflite = module.export_tflite
        self.benchmark_tflite = module.benchmark_tflite
        self.tflm_footprint = getattr(module, "tflm_footprint", None)

    @staticmethod
    def _call(function, candidates):
        parameters = inspect.signature(function).parameters
        arguments = {}
        for name in parameters:
            if name in candidates:
                value = candidates[name]
                arguments[name] = value() if callable(value) else value
        return function(**arguments)

    def export_int8(self, keras_path, tflite_path, config, splits):
        def model():
            import keras

            return keras.models.load_model(keras_path, compile=False)

        path = tflite_path
        candidates = {
            "model": model, "keras_model": model, "model_path": keras_path, "keras_path": keras_path,
            "quantization": "int8", "mode": "int8",
            "output_path": path, "output": path, "tflite_path": path, "path": path,
            "train_data": lambda: splits().train, "dataset": config.dataset, "data_dir": config.data_dir,
        }
        return self._call(self.export_tflite, candidates)

    def benchmark(self, tflite_path, config, splits):
        path = tflite_path
        candidates = {
            "model": path, "model_path": path, "tflite_path": path, "path": path,
            "dataset": config.dataset, "data_dir": config.data_dir, "test_data": lambda: splits().test,
            "num_threads": 1,
        }
        return self._call(self.benchmark_tflite, candidates)


def find_edge(mode):
    """The edge API, or `None` (with the reason printed) when not used."""
    if mode == "off":
        return None
    try:
        module = importlib.import_module("edge")
        api = EdgeApi(module)
    except (ImportError, AttributeError) as error:
        reason = f"the edge package does not provide export_tflite and benchmark_tflite ({type(error).__name__}: {error})"
        if mode == "on":
            raise UsageError(f"--edge=on: {reason}") from None
        print(f"[compare] --edge=auto: {reason}; int8 columns left empty", flush=True)
        return None
    return api


def _number(value):
    if isinstance(value, dict):
        for key in ("median", "p50", "mean"):
            if key in value:
                return float(value[key])
        return None
    return None if value is None else float(value)


def measure_edge(api, config):
    """Exports the run's student to int8 TFLite and benchmarks it, once; the figures go to `edge_int8.json`."""
    record_path = os.path.join(config.output_dir, "edge_int8.json")
    if os.path.exists(record_path):
        return
    keras_path = os.path.join(config.output_dir, "student.keras")
    tflite_path = os.path.join(config.output_dir, "student_int8.tflite")
    print(f"[compare] edge: int8 export and benchmark of {keras_path}", flush=True)
    loaded = []

    def splits():
        if not loaded:
            from kdkeras import data

            loaded.append(data.load(config.dataset, batch_size=config.batch_size, data_dir=config.data_dir, seed=config.seed))
        return loaded[0]

    try:
        if not os.path.exists(tflite_path):
            api.export_int8(keras_path, tflite_path, config, splits)
        result = api.benchmark(tflite_path, config, splits)
        if not isinstance(result, dict):
            result = dict(getattr(result, "__dict__", {}))
        figures = {
            "size_bytes": int(result.get("size_bytes") or os.path.getsize(tflite_path)),
            "accuracy": _number(result.get("accuracy")),
            "latency_ms": _number(result.get("latency_ms")),
        }
        if api.tflm_footprint is not None:
            footprint = api.tflm_footprint(tflite_path)
            figures.update(arena_bytes=footprint["arena_bytes"], flash_bytes=footprint["flash_bytes"])
    except Exception as error:  # the comparison goes on without this run's edge figures
        print(f"[compare] edge: failed for {config.output_dir} ({type(error).__name__}: {error}); int8 columns left empty", flush=True)
        return
    io.write_json_atomic(record_path, figures)


# --- accounting -----------------------------------------------------------------------------------------------


def _step2_examples(run_dir, role):
    """WSKD: the examples of the second update over all epochs, from the per-epoch history."""
    path = os.path.join(run_dir, f"{role}_history.csv")
    if not os.path.exists(path):
        return 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_epoch = {}
    for row in rows:
        if row.get("step2_examples"):
            by_epoch[row.get("epoch")] = float(row["step2_examples"])  # a resumed epoch counts once
    return int(sum(by_epoch.values()))


def account(payload, run_dir):
    """Work of one run: images forward/backward per network, FLOPs, models trained."""
    n = int(payload["data"]["num_train"])
    by_role = {r["role"]: r for r in payload["models"]}
    networks = {}  # "role(arch)" -> {"forward", "backward", "flops"}

    def net(record):
        key = f"{record['role']}({record['arch']})"
        return networks.setdefault(key, {"forward": 0, "backward": 0, "flops": int(record["flops"])})

    trained = 0
    teacher_forward = 0
    for record in payload["models"]:
        if record.get("checkpoint") is not None or record.get("epochs", 0) == 0:
            continue  # loaded, not trained here (the shared teacher)
        trained += 1
        images = int(record["epochs"]) * n
        if record.get("trained_by") == "WiseStudentDistiller":
            images += _step2_examples(run_dir, record["role"])
        entry = net(record)
        entry["forward"] += images
        entry["backward"] += images
        for source in record.get("taught_by") or []:
            if source not in by_role:
                continue  # the virtual teacher of tfkd_reg is no network
            passes = n if record.get("teacher_cache") else int(record["epochs"]) * n
            net(by_role[source])["forward"] += passes
            teacher_forward += passes
    flops = sum(e["forward"] * e["flops"] + e["backward"] * 2 * e["flops"] for e in networks.values())
    return {
        "models_trained": trained,
        "images_forward": sum(e["forward"] for e in networks.values()),
        "images_backward": sum(e["backward"] for e in networks.values()),
        "teacher_forward_images": teacher_forward,
        "train_flops": int(flops),
        "train_seconds": round(sum(float(r.get("train_seconds", 0.0)) for r in payload["models"]), 3),
        "images_by_network": "; ".join(f"{k}: fwd {e['forward']} bwd {e['backward']}" for k, e in networks.items()),
    }


def collect(plan, edge_used):
    """`(rows, teachers)`: one row per finished method run, one dict per finished shared teacher."""
    teachers = {}
    for seed in plan.seeds:
        if plan.trains_shared_teacher:
            payload = load_results(plan.teacher_dir(seed))
            if payload is not None:
                cost = account(payload, plan.teacher_dir(seed))
                teachers[seed] = {
                    "seed": seed,
                    "arch": payload["student"]["arch"],
                    "accuracy": payload["student"]["test_accuracy"],
                    "seconds": cost["train_seconds"],
                    "images_forward": cost["images_forward"],
                    "images_backward": cost["images_backward"],
                    "train_flops": cost["train_flops"],
                }
    rows = []
    for seed in plan.seeds:
        shared = teachers.get(seed, {"seconds": 0.0, "train_flops": 0})
        for method in plan.methods:
            run_dir = os.path.join(plan.output_dir, method, f"seed{seed}")
            payload = load_results(run_dir)
            if payload is None:
                continue
            cost = account(payload, run_dir)
            uses = method in USES_SHARED_TEACHER
            teacher = payload.get("teacher") or {}
            student = payload["student"]
            row = {
                "method": method,
                "seed": seed,
                "student_arch": student["arch"],
                "student_accuracy": student["test_accuracy"],
                "teacher_arch": teacher.get("arch", ""),
                "teacher_accuracy": teacher.get("test_accuracy", ""),
                "uses_shared_teacher": uses,
                "wall_seconds": payload.get("wall_seconds", ""),
                "shared_teacher_seconds": shared["seconds"] if uses else 0.0,
                "student_params": student["params"],
                "student_flops": student["flops"],
                "model_accuracies": "; ".join(f"{r['role']}({r['arch']})={r['test_accuracy']:.4f}" for r in payload["models"]),
                "run_dir": run_dir,
                "int8_size_bytes": "",
                "int8_accuracy": "",
                "int8_latency_ms": "",
                "int8_arena_bytes": "",
                "int8_flash_bytes": "",
            }
            row.update(cost)
            row["total_seconds"] = round(row["train_seconds"] + row["shared_teacher_seconds"], 3)
            row["total_train_flops"] = row["train_flops"] + (shared["train_flops"] if uses else 0)
            edge_path = os.path.join(run_dir, "edge_int8.json")
            if edge_used and os.path.exists(edge_path):
                with open(edge_path) as f:
                    figures = json.load(f)
                row["int8_size_bytes"] = figures.get("size_bytes", "")
                row["int8_accuracy"] = "" if figures.get("accuracy") is None else figures["accuracy"]
                row["int8_latency_ms"] = "" if figures.get("latency_ms") is None else figures["latency_ms"]
                row["int8_arena_bytes"] = figures.get("arena_bytes", "")
                row["int8_flash_bytes"] = figures.get("flash_bytes", "")
            rows.append(row)
    return rows, teachers


# --- writing --------------------------------------------------------------------------------------------------


def _stats(values):
    values = [float(v) for v in values if v not in ("", None)]
    if not values:
        return None, None
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt_mean(values, fmt, std=True):
    mean, spread = _stats(values)
    if mean is None:
        return "–"
    text = format(mean, fmt)
    return f"{text} ± {format(spread, fmt)}" if std and len(values) > 1 else text


def _kib_mean(values):
    mean = _stats(values)[0]
    return "–" if mean is None else f"{mean / 1024:.1f} KiB"


def _si(value):
    if value is None:
        return "–"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _si_mean(values):
    mean, _ = _stats(values)
    return _si(mean)


def write_csv(path, rows):
    def write(temporary):
        with open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    io.replace_atomic(path, write)


def recipe_flags(plan):
    skip = {"method", "seed", "output_dir", "teacher_checkpoint", "export", "verbose"}
    lines = []
    for key, value in plan.recipe.as_dict().items():
        if key in skip:
            continue
        if isinstance(value, list):
            value = ",".join(value)
        if value is not None:
            lines.append(f"--{key}={value}")
    return lines


def markdown(plan, rows, teachers, edge_used, plots):
    by_method = {m: [r for r in rows if r["method"] == m] for m in plan.methods}
    lines = [
        "# KD methods compared on one recipe",
        "",
        f"Dataset `{plan.recipe.dataset}`; seeds {', '.join(map(str, plan.seeds))}; "
        f"{len(rows)} of {len(plan.methods) * len(plan.seeds)} method runs finished. "
        "Accuracy is top-1 on the test split, mean ± sample std over the seeds finished.",
        "",
    ]
    if plan.recipe.dataset == "mnist_sample":
        lines += [
            "mnist_sample is the official MNIST *test* set (10,000 digits) split deterministically into 8,000 "
            "training and 2,000 test digits, stratified by class; numbers on it are not MNIST benchmark numbers.",
            "",
        ]
    header = (
        "| method | student | student acc | teacher acc | models trained | train s (own) | train s (with shared teacher) "
        "| images fwd / bwd | train FLOPs (with shared teacher) | params | FLOPs/image |"
    )
    align = "|---|---|---|---|---|---|---|---|---|---|---|"
    if edge_used:
        header += " int8 size | int8 acc | int8 latency ms | TFLM arena (RAM) | TFLM flash |"
        align += "---|---|---|---|---|"
    lines += [header, align]
    for method in plan.methods:
        group = by_method[method]
        if not group:
            lines.append(f"| {method} | (not run yet) |" + " |" * (align.count("|") - 3))
            continue
        uses = method in USES_SHARED_TEACHER
        arch = ", ".join(sorted({r["student_arch"] for r in group}))
        trained = _fmt_mean([r["models_trained"] for r in group], ".0f", std=False)
        if uses:
            trained += " + shared teacher"
        cells = [
            method,
            arch,
            _fmt_mean([r["student_accuracy"] for r in group], ".4f"),
            _fmt_mean([r["teacher_accuracy"] for r in group], ".4f") if any(r["teacher_accuracy"] != "" for r in group) else "–",
            trained,
            _fmt_mean([r["train_seconds"] for r in group], ".1f"),
            _fmt_mean([r["total_seconds"] for r in group], ".1f"),
            f"{_si_mean([r['images_forward'] for r in group])} / {_si_mean([r['images_backward'] for r in group])}",
            f"{_si_mean([r['train_flops'] for r in group])} ({_si_mean([r['total_train_flops'] for r in group])})",
            _si_mean([r["student_params"] for r in group]),
            _si_mean([r["student_flops"] for r in group]),
        ]
        if edge_used:
            size = _stats([r["int8_size_bytes"] for r in group])[0]
            cells += [
                "–" if size is None else f"{size / 1024:.1f} KiB",
                _fmt_mean([r["int8_accuracy"] for r in group], ".4f"),
                _fmt_mean([r["int8_latency_ms"] for r in group], ".3f"),
                _kib_mean([r["int8_arena_bytes"] for r in group]),
                _kib_mean([r["int8_flash_bytes"] for r in group]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if teachers:
        t = list(teachers.values())
        cells = [
            "*shared teacher*",
            t[0]["arch"],
            _fmt_mean([x["accuracy"] for x in t], ".4f"),
            "–",
            "1 per seed",
            _fmt_mean([x["seconds"] for x in t], ".1f"),
            _fmt_mean([x["seconds"] for x in t], ".1f"),
            f"{_si_mean([x['images_forward'] for x in t])} / {_si_mean([x['images_backward'] for x in t])}",
            _si_mean([x["train_flops"] for x in t]),
            "",
            "",
        ]
        if edge_used:
            cells += ["", "", "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    total_seconds = sum(r["train_seconds"] for r in rows) + sum(x["seconds"] for x in teachers.values())
    lines += [
        "",
        f"Training seconds of the whole study so far (each shared teacher once): {total_seconds:.1f} s.",
        "",
        "How to read it:",
        "",
        f"- The shared teacher (`--teacher={plan.recipe.teacher}`, `--teacher_epochs={plan.recipe.teacher_epochs}`) is trained "
        f"once per seed and taught {', '.join(m for m in plan.methods if m in USES_SHARED_TEACHER) or 'no method here'}; "
        "its cost is counted once, in its own row. *own* columns leave it out; *with shared teacher* adds it to the "
        "methods that use it (the cost of that student from scratch).",
        "- dekd trains its own defective teacher, rekd and tfkd_self their own teacher (the student's architecture); "
        "those are in their own costs. rekd's *student* is the large model (the `--teacher` architecture) and gskd's "
        "is its last stage, so their student architecture differs from the others'.",
        "- Images: a model trained `e` epochs on `N` examples passes `e·N` forward and backward (wskd adds its "
        "second-update examples to both); each fixed network a distiller learns from passes `e·N` forward, or `N` "
        "once when its logits are cached (`--teacher_cache`). Evaluation passes are not counted.",
        "- Training FLOPs: Σ over networks of forward images × F + backward images × 2F, F the network's forward "
        "FLOPs per image (2 per multiply-accumulate), a backward pass taken as about twice a forward one.",
        "- Seconds are wall-clock `fit` time (plus any logit caching) on a shared machine; FLOPs do not depend on it.",
    ]
    if edge_used:
        lines.append("- int8: full-integer TFLite export of the final student by the `edge` package; accuracy on the whole "
                     "test split, latency per image at batch 1, one thread (median). TFLM arena: the RAM TensorFlow Lite "
                     "Micro's allocator takes for that file's tensors; TFLM flash: the file's bytes, kept in flash.")
    else:
        lines.append("- int8 TFLite columns and the latency plot are left out: the `edge` package was "
                     + ("turned off (`--edge=off`)." if plan.edge == "off" else "not available (it does not provide `export_tflite` and `benchmark_tflite`)."))
    lines += ["", "Plots: " + (", ".join(f"`{p}`" for p in plots) if plots else "none yet."), ""]
    if edge_used and "latency.png" not in plots:
        lines += ["No latency plot: no int8 latency was measured.", ""]
    lines += ["## Recipe (the same for every method)", "", "```"]
    lines += [f"--methods={','.join(plan.methods)}", f"--seeds={','.join(map(str, plan.seeds))}"]
    if plan.dekd_teacher_epochs:
        lines.append(f"--dekd_teacher_epochs={plan.dekd_teacher_epochs}")
    if plan.recipe.teacher_checkpoint:
        lines.append(f"--teacher_checkpoint={plan.recipe.teacher_checkpoint}")
    lines += recipe_flags(plan) + ["```", ""]
    return "\n".join(lines)


def _plot(path, panels, methods, rows, title):
    """`panels`: list of `(x_key, x_label, log_x)`; one point per method, error bars over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, (x_key, x_label, log_x) in zip(axes[0], panels):
        for method in methods:
            group = [r for r in rows if r["method"] == method and r.get(x_key) not in ("", None)]
            if not group:
                continue
            x_mean, x_std = _stats([r[x_key] for r in group])
            y_mean, y_std = _stats([r["student_accuracy"] for r in group])
            axis.errorbar(x_mean, y_mean, xerr=x_std, yerr=y_std, fmt="o", capsize=3)
            axis.annotate(method, (x_mean, y_mean), textcoords="offset points", xytext=(5, 4), fontsize=9)
        axis.set_xlabel(x_label)
        axis.set_ylabel("student test accuracy")
        if log_x:
            axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


def write_summary(plan, edge_api):
    edge_used = edge_api is not None
    rows, teachers = collect(plan, edge_used)
    os.makedirs(plan.output_dir, exist_ok=True)
    write_csv(os.path.join(plan.output_dir, "results.csv"), rows)
    plots = []
    if rows:
        _plot(
            os.path.join(plan.output_dir, "cost.png"),
            [("total_seconds", "training seconds (with shared teacher)", False),
             ("total_train_flops", "training FLOPs (with shared teacher)", True)],
            plan.methods, rows, f"Student accuracy vs training cost ({plan.recipe.dataset}; error bars: std over seeds)",
        )
        plots.append("cost.png")
        if edge_used and any(r["int8_latency_ms"] not in ("", None) for r in rows):
            _plot(
                os.path.join(plan.output_dir, "latency.png"),
                [("int8_latency_ms", "int8 TFLite latency per image, ms (batch 1, 1 thread)", False)],
                plan.methods, rows, f"Student accuracy vs int8 TFLite latency ({plan.recipe.dataset})",
            )
            plots.append("latency.png")
    stale = os.path.join(plan.output_dir, "latency.png")
    if "latency.png" not in plots and os.path.exists(stale):
        os.remove(stale)  # from an earlier invocation with edge figures; results.md says why there is none now
    text = markdown(plan, rows, teachers, edge_used, plots)

    def write(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    io.replace_atomic(os.path.join(plan.output_dir, "results.md"), write)


# --- command --------------------------------------------------------------------------------------------------


@cli.run
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    plan = plan_from_flags(FLAGS)
    edge_api = find_edge(plan.edge)
    runs = plan.runs()
    print(
        f"[compare] {len(plan.methods)} methods x {len(plan.seeds)} seeds = {len(runs)} runs"
        + (" (including the shared teacher of each seed)" if plan.trains_shared_teacher else "")
        + f" in {plan.output_dir}",
        flush=True,
    )
    failed = run_all(plan, edge_api)
    if failed:
        print(f"[compare] {len(failed)} runs failed: {', '.join(failed)}; run the same command again to retry them", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    cli.quiet_tensorflow_logs()
    app.run(main, flags_parser=kdtrain.parse_flags)
