#!/usr/bin/env python
"""`python tools/compare.py --flagfile=configs/compare/mnist_sample.flags`: KD methods compared on one recipe.

Plans one `kdkeras.train` run per method and seed (every training flag is
the shared recipe), runs them in this process in `output_dir/<method>/seed<k>`,
then tabulates and plots. Files in `--output_dir`, refreshed after every
run (each written atomically):

- `results.csv`: one row per method and seed;
- `results.md`: per method the student's accuracy (mean ± std, the
  per-seed values), its difference to BLKD paired by seed with a 95%
  interval, the teacher, the cost (training seconds, images through each
  network, FLOPs) and the int8 TFLite file (size, accuracy); the study's
  total work, each model and each cache fill counted once;
- `cost.png`: student accuracy against training cost;
- `delta.png`: each method's difference to BLKD with its interval;
- `curves.png`: per epoch, each method's training accuracy and the terms
  its mechanism logged (KD loss, GSKD's previous-stage loss, WSKD's
  step-2 examples per seed).

Which methods learn from a shared teacher, and how work is counted, come
from kdkeras (`kdkeras.pipelines.registry`, `kdkeras.accounting`). The
shared teacher is `--teacher_checkpoint` for every seed (as RepDistiller
does), or else trained once per seed in `output_dir/teacher/seed<k>`. Every
run shares `output_dir/models` (`--model_store`), so a model two methods
have in common (the NOKD student and Tf-KD-self's teacher, the BLKD student
and GSKD's first stage) is trained once. A run whose `results.json` exists
is not repeated: the same command resumes.

Variants of a method join the comparison under their own name:
`--variant=wskd_swap:wskd:wskd_correction=swap` and `--methods=...,wskd_swap`.
`--extra_methods` run on `--extra_seeds` only, after every seed of
`--methods`, so the core rows fill first.
"""

import csv
import dataclasses
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

from kdkeras import accounting, cli, experiment, io, provenance  # noqa: E402
from kdkeras import config as train_config  # noqa: E402
from kdkeras.errors import UsageError, check  # noqa: E402
from kdkeras.pipelines import METHODS, registry  # noqa: E402
from kdkeras.pipelines.run import epoch_history  # noqa: E402
from kdkeras.run_directory import claim  # noqa: E402

EDGE_MODES = ("on", "off")

train_config.define_flags()
flags.DEFINE_list("methods", list(METHODS), "methods (or --variant names) to compare on every seed")
flags.DEFINE_string("seeds", "3", "a count N (seeds --seed .. --seed+N-1) or a comma-separated list (e.g. 0,1,2)")
flags.DEFINE_list("extra_methods", [], "methods (or variants) run on --extra_seeds only, after all of --methods")
flags.DEFINE_string("extra_seeds", "1", "seeds of --extra_methods, as --seeds")
flags.DEFINE_multi_string(
    "variant", [], "NAME:METHOD:flag=value[;flag=value...], a method with other settings, compared as NAME"
)
flags.DEFINE_string("edge", "on", "int8 TFLite export of each final student, measured in LiteRT: on or off")
flags.DEFINE_integer("dekd_teacher_epochs", 0, "dekd: epochs of its defective teacher (0: --teacher_epochs)")
flags.DEFINE_list(
    "reference",
    [],
    "published accuracies to check the study against, in %: NAME=PERCENT for a method or the teacher "
    "(e.g. teacher=86.35,nokd=80.56,blkd=81.89)",
)
flags.DEFINE_float("reference_tolerance", 0.7, "points within which a mean over seeds agrees with --reference")
flags.DEFINE_string("reference_source", "", "where --reference comes from, for results.md")
flags.DEFINE_bool(
    "report_only",
    False,
    "write results.md, results.csv and the plots from the runs finished so far and train nothing "
    "(safe beside a study still running)",
)
flags.DEFINE_string("results_dir", "", "where results.md, results.csv and the plots go (default: --output_dir)")
FLAGS = flags.FLAGS
FLAGS.set_default("output_dir", "runs/compare")

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


# --- the plan -------------------------------------------------------------------------------------------------


def parse_seeds(text, base, flag="--seeds"):
    """A count N gives base..base+N-1; a comma list gives those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(
            f"{flag}={text}: expected a count (e.g. 3) or a comma-separated list of integers (e.g. 0,1,2)"
        ) from None
    check(values, f"{flag}={text}: expected a count (e.g. 3) or a comma-separated list of integers")
    if len(values) == 1 and "," not in text:
        check(values[0] >= 1, f"{flag}={text}: expected a count >= 1")
        return list(range(base, base + values[0]))
    check(len(set(values)) == len(values), f"{flag}={text}: a seed is listed twice")
    return values


def parse_variants(texts):
    """`{name: (method, {field: value})}` from `--variant=NAME:METHOD:flag=value;...`."""
    types = {f.name: f.type for f in dataclasses.fields(train_config.TrainConfig)}
    variants = {}
    for text in texts:
        parts = text.split(":", 2)
        check(len(parts) == 3 and all(parts), f"--variant={text}: expected NAME:METHOD:flag=value[;flag=value...]")
        name, method, settings = parts
        check(name not in METHODS and name not in variants, f"--variant={text}: the name {name!r} is taken")
        check(method in METHODS, f"--variant={text}: {method!r} is not a method; expected one of {', '.join(METHODS)}")
        changes = {}
        for item in settings.split(";"):
            key, _, value = item.partition("=")
            key = key.strip().lstrip("-")
            check(
                key in types and key not in ("method", "seed", "output_dir"),
                f"--variant={text}: {key!r} is not a setting",
            )
            default = getattr(train_config.TrainConfig(), key)
            if isinstance(default, bool):
                check(value.lower() in ("true", "false", "1", "0"), f"--variant={text}: {key} expects true or false")
                changes[key] = value.lower() in ("true", "1")
            elif isinstance(default, tuple):
                changes[key] = tuple(v.strip() for v in value.split(",") if v.strip())
            else:
                kind = type(default) if default is not None else float
                try:
                    changes[key] = kind(value)
                except ValueError:
                    raise UsageError(f"--variant={text}: {key}={value} is not a {kind.__name__}") from None
        variants[name] = (method, changes)
    return variants


def parse_methods(values, variants, flag):
    names = [m.strip() for m in values if m.strip()]
    known = list(METHODS) + list(variants)
    for m in names:
        check(m in known, f"{flag}: {m!r} is not a method; expected names from {', '.join(known)}")
    check(len(set(names)) == len(names), f"{flag}: a method is listed twice")
    return names


@dataclasses.dataclass
class Plan:
    recipe: train_config.TrainConfig  # the shared recipe
    methods: list  # names: methods or variants
    seeds: list
    extra_methods: list
    extra_seeds: list
    variants: dict
    output_dir: str
    edge: str
    dekd_teacher_epochs: int
    results_dir: str = ""
    command: str = ""
    commit: str = ""
    reference: dict = dataclasses.field(default_factory=dict)
    reference_tolerance: float = 0.7
    reference_source: str = ""

    def method_of(self, name):
        return self.variants[name][0] if name in self.variants else name

    def uses_shared_teacher(self, name):
        return registry.get(self.method_of(name)).learns_from_trained_teacher

    @property
    def all_methods(self):
        return self.methods + [m for m in self.extra_methods if m not in self.methods]

    @property
    def all_seeds(self):
        return self.seeds + [s for s in self.extra_seeds if s not in self.seeds]

    def pairs(self):
        """`(name, seed)` in training order: every seed of the core methods, then the extras."""
        core = [(m, s) for s in self.seeds for m in self.methods]
        return core + [(m, s) for s in self.extra_seeds for m in self.extra_methods if (m, s) not in core]

    @property
    def trains_shared_teacher(self):
        return not self.recipe.teacher_checkpoint and any(self.uses_shared_teacher(m) for m, _ in self.pairs())

    def teacher_dir(self, seed):
        return os.path.join(self.output_dir, "teacher", f"seed{seed}")

    def teacher_checkpoint(self, seed):
        if self.recipe.teacher_checkpoint:
            return os.path.abspath(self.recipe.teacher_checkpoint)
        return os.path.abspath(os.path.join(self.teacher_dir(seed), "student.keras"))

    def run_dir(self, name, seed):
        return os.path.join(self.output_dir, name, f"seed{seed}")

    def _common(self):
        """What every run of the study shares: one model store and one teacher-cache folder."""
        return dict(
            model_store=os.path.join(self.output_dir, "models"),
            teacher_cache_dir=self.recipe.teacher_cache_dir or os.path.join(self.output_dir, "cache"),
            export=("int8",) if self.edge == "on" else (),
        )

    def teacher_config(self, seed):
        r = self.recipe
        return dataclasses.replace(
            r,
            method="nokd",
            student=r.teacher,
            epochs=r.teacher_epochs,
            seed=seed,
            output_dir=self.teacher_dir(seed),
            teacher_checkpoint=None,
            **dict(self._common(), export=()),
        )

    def method_config(self, name, seed):
        method = self.method_of(name)
        changes = dict(self.variants[name][1]) if name in self.variants else {}
        changes.update(method=method, seed=seed, output_dir=self.run_dir(name, seed), **self._common())
        changes["teacher_checkpoint"] = self.teacher_checkpoint(seed) if self.uses_shared_teacher(name) else None
        if method == "dekd" and self.dekd_teacher_epochs:
            changes["teacher_epochs"] = self.dekd_teacher_epochs
        return dataclasses.replace(self.recipe, **changes)

    def runs(self):
        """`(label, name or None for the shared teacher, seed, config)` in training order."""
        out = []
        teachers = set()
        for name, seed in self.pairs():
            if self.trains_shared_teacher and self.uses_shared_teacher(name) and seed not in teachers:
                teachers.add(seed)
                out.append(
                    (f"shared teacher ({self.recipe.teacher}) seed {seed}", None, seed, self.teacher_config(seed))
                )
            out.append((f"{name} seed {seed}", name, seed, self.method_config(name, seed)))
        return out


def parse_reference(items, methods):
    """`--reference` as `{name: accuracy in [0, 1]}`; names are methods of the study or `teacher`."""
    reference = {}
    for item in items:
        name, _, percent = item.partition("=")
        name = name.strip()
        check(
            name in ("teacher", *methods),
            f"--reference={item}: expected NAME=PERCENT with NAME 'teacher' or one of {', '.join(methods)}",
        )
        try:
            value = float(percent)
        except ValueError:
            value = -1.0
        check(0.0 <= value <= 100.0, f"--reference={item}: expected a percentage from 0 to 100 after '='")
        reference[name] = value / 100.0
    return reference


def plan_from_flags(values):
    check(not values["method"].present, "--method: compare runs every method of --methods; remove --method")
    recipe = train_config.from_flags(values)
    edge = values.edge.strip().lower()
    check(edge in EDGE_MODES, f"--edge={values.edge}: expected one of {', '.join(EDGE_MODES)}")
    check(
        values.dekd_teacher_epochs >= 0, f"--dekd_teacher_epochs={values.dekd_teacher_epochs}: expected an integer >= 0"
    )
    variants = parse_variants(values.variant)
    methods = parse_methods(values.methods, variants, "--methods")
    extra = parse_methods(values.extra_methods, variants, "--extra_methods")
    check(methods or extra, "--methods: expected at least one of " + ", ".join(METHODS))
    seeds = parse_seeds(values.seeds, recipe.seed)
    plan = Plan(
        recipe=recipe,
        methods=methods,
        seeds=seeds,
        extra_methods=extra,
        extra_seeds=parse_seeds(values.extra_seeds, seeds[0], "--extra_seeds"),
        variants=variants,
        output_dir=recipe.output_dir,
        edge=edge,
        dekd_teacher_epochs=values.dekd_teacher_epochs,
        results_dir=values.results_dir or recipe.output_dir,
        # The command that trains the study; a --report_only invocation only writes its tables.
        command=" ".join(["python tools/compare.py"] + [a for a in sys.argv[1:] if a != "--report_only"]),
        commit=provenance.LIBRARY_COMMIT,
        reference=parse_reference(values.reference, methods + extra),
        reference_tolerance=values.reference_tolerance,
        reference_source=values.reference_source,
    )
    for _, _, _, config in plan.runs():  # every run's settings are checked before anything is trained
        config.validate()
    return plan


# --- running --------------------------------------------------------------------------------------------------


def load_results(run_dir, name="results.json"):
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def measure_footprint(run_dir):
    """The int8 student's TensorFlow Lite Micro arena and flash, measured once into `tflm_footprint.json`."""
    record = os.path.join(run_dir, "tflm_footprint.json")
    tflite = os.path.join(run_dir, "student_int8.tflite")
    if os.path.exists(record) or not os.path.exists(tflite):
        return
    import edge

    try:
        footprint = edge.tflm_footprint(tflite)
    except UsageError as error:  # an operator TFLM lacks: the columns stay empty, the study goes on
        print(f"[compare] TFLM: {tflite}: {error}", flush=True)
        return
    io.write_json_atomic(record, {k: footprint[k] for k in ("arena_bytes", "arena_tried_bytes", "flash_bytes")})


def run_all(plan):
    """Trains every run not finished yet; returns the labels of the runs that failed.

    The study claims `output_dir` while it runs (and each run its own
    directory inside), so a second study there ends at once naming this one.
    """
    with claim(plan.output_dir, what="study"):
        return _run_all(plan)


def _run_all(plan):
    runs = plan.runs()
    start = time.perf_counter()
    failed = []
    write_summary(plan)  # the tables of what is finished, at once (a resumed study too)
    for index, (label, name, seed, config) in enumerate(runs, start=1):
        prefix = f"[compare] run {index}/{len(runs)}: {label}"
        if load_results(config.output_dir) is not None:
            print(f"{prefix}: finished earlier, skipped ({config.output_dir})", flush=True)
            if name is not None and plan.edge == "on":
                measure_footprint(config.output_dir)
            continue
        if config.teacher_checkpoint and not os.path.isfile(config.teacher_checkpoint):
            print(f"{prefix}: not run, the shared teacher {config.teacher_checkpoint} is missing", flush=True)
            failed.append(label)
            continue
        print(f"{prefix}: training in {config.output_dir}", flush=True)
        t0 = time.perf_counter()
        try:
            experiment.train(config)
        except UsageError:
            raise
        except Exception as error:  # e.g. a diverged run: the others still run; this one resumes next time
            print(f"{prefix}: FAILED ({type(error).__name__}: {error}); going on with the others", flush=True)
            failed.append(label)
            continue
        finally:
            _clear_session()
        print(f"{prefix}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        if name is not None and plan.edge == "on":
            measure_footprint(config.output_dir)
        write_summary(plan)
    write_summary(plan)
    print(
        f"[compare] {len(runs) - len(failed)} of {len(runs)} runs finished ({time.perf_counter() - start:.1f} "
        "s this time); "
        f"results in {os.path.join(plan.results_dir or plan.output_dir, 'results.md')}",
        flush=True,
    )
    return failed


def _clear_session():
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


# --- tabulating -----------------------------------------------------------------------------------------------


def teacher_rows(plan):
    """`{seed: figures}` of each shared teacher trained by the study."""
    out = {}
    if not plan.trains_shared_teacher:
        return out
    for seed in plan.all_seeds:
        payload = load_results(plan.teacher_dir(seed))
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


def external_teacher(plan):
    """The `--teacher_checkpoint` model's own record, from the `results.json` of the run that saved it.

    The checkpoint is the file a run saved for one of its models (`<role>.keras`), so its record is the one
    of that role; None when there is no such run or record.
    """
    if not plan.recipe.teacher_checkpoint:
        return None
    path = os.path.abspath(plan.recipe.teacher_checkpoint)
    payload = load_results(os.path.dirname(path))
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


def shared_crops_note(plan, outside):
    """A sentence when some students draw the very crops the shared teacher trained on, else "".

    A run's crop and flip of example `i` in epoch `e` is `view_of(seed, e, i)`: a student with the teacher's
    `--seed` sees, epoch by epoch, the teacher's own training views, on which it errs less than on fresh ones.
    """
    flags = (outside or {}).get("flags", {})
    seed = flags.get("seed")
    if not (plan.recipe.augment and flags.get("augment") and seed in plan.all_seeds):
        return ""
    return (
        f" It trained with `--seed={seed}` and `--augment`, so the seed-{seed} students see its own training crops "
        "epoch by epoch (on which it errs less than on fresh crops); the other seeds do not."
    )


def collect(plan):
    """`(rows, teachers, payloads)`: one row per finished run of a method, the shared teachers, every results.json."""
    teachers = teacher_rows(plan)
    rows, payloads = [], [t["payload"] for t in teachers.values()]
    for name, seed in plan.pairs():
        run_dir = plan.run_dir(name, seed)
        payload = load_results(run_dir)
        if payload is None:
            continue
        payloads.append(payload)
        work = accounting.run_work(payload)
        uses = plan.uses_shared_teacher(name)
        shared = teachers.get(seed, {"seconds": 0.0, "flops": 0})
        teacher = payload.get("teacher") or {}
        student = payload["student"]
        int8 = (payload.get("edge") or {}).get("int8") or {}
        footprint = load_results(run_dir, "tflm_footprint.json") or {}
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
            "model_accuracies": "; ".join(
                f"{r['role']}({r['arch']})={r['test_accuracy']:.4f}" for r in payload["models"]
            ),
            "run_dir": run_dir,
            "final_role": payload["models"][-1]["role"],
            "blkd_models": [
                {"arch": r["arch"], "accuracy": r["test_accuracy"], "role": r["role"]}
                for r in payload["models"]
                if uses and r.get("trained_by") == "Distiller" and r.get("taught_by") == ["teacher"]
            ],
            "label_models": label_records(payload, name),
            "diagnostics": diagnostics(run_dir, payload),
        }
        row["total_seconds"] = round(row["train_seconds"] + row["shared_teacher_seconds"], 3)
        row["total_train_flops"] = row["train_flops"] + (shared["flops"] if uses else 0)
        rows.append(row)
    return rows, teachers, payloads


# Per-epoch metrics of the methods' own mechanisms, read from each model's history for results.md.
DIAGNOSTICS = {
    "step2_examples": "WSKD step-2 examples per epoch (the teacher's errors on the views seen)",
    "step2_loss": "WSKD step-2 loss",
    "previous_distillation_loss": "GSKD KL term to the previous stage (times T^2)",
    "distillation_loss": "KD term to the teacher (times T^2)",
}


def diagnostics(run_dir, payload):
    """`{role: {metric: (first epoch, last epoch)}}` of the DIAGNOSTICS a run's distilled models logged."""
    out = {}
    for record in payload["models"]:
        if not record.get("taught_by"):
            continue
        rows = epoch_history(os.path.join(run_dir, f"{record['role']}_history.csv"))
        found = {m: (float(rows[0][m]), float(rows[-1][m])) for m in DIAGNOSTICS if rows and rows[0].get(m)}
        if "step2_examples" in found or "previous_distillation_loss" in found:
            out[record["role"]] = found
    return out


# Per-epoch metrics drawn in curves.png, with each panel's title.
CURVES = {
    "accuracy": "training accuracy % (augmented views, true labels; mean over seeds)",
    "distillation_loss": "KD term to the model's teacher (TAKD: the assistant), times T^2",
    "previous_distillation_loss": "GSKD: KL term to the previous stage, times T^2",
    "step2_examples": "WSKD: step-2 examples per epoch (the teacher's errors)",
}


def training_curves(rows):
    """`{method: {metric: {seed: [value of each epoch]}}}` of each run's final model, from its history.

    The final model is the one a method delivers (the student, GSKD's last stage); a metric it did not log
    in every epoch is left out.
    """
    curves = {}
    for row in rows:
        history = epoch_history(os.path.join(row["run_dir"], f"{row['final_role']}_history.csv"))
        for metric in CURVES:
            values = [float(h[metric]) for h in history if h.get(metric) not in (None, "", "NA")]
            if history and len(values) == len(history):
                curves.setdefault(row["method"], {}).setdefault(metric, {})[row["seed"]] = values
    return curves


def step2_lines(methods, curves):
    """WSKD's step-2 example counts as `[(methods, seed, values)]`, one line per distinct series.

    The count is the teacher's errors on the views a seed sees, so variants that change only the update (the
    `batch` reduction, the `swap` correction) log the same series on the same seed; drawn separately, the later
    line would hide the earlier. A variant that logged none (no step 2) is left out.
    """
    lines = {}
    for name in methods:
        for seed, values in sorted(curves.get(name, {}).get("step2_examples", {}).items()):
            if any(values):
                lines.setdefault((seed, tuple(values)), []).append(name)
    return [(names, seed, list(values)) for (seed, values), names in lines.items()]


def _numbers(values):
    return [float(v) for v in values if v not in ("", None)]


def mean_std(values):
    values = _numbers(values)
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def paired_difference(rows, name, reference="blkd"):
    """`(mean, half_width, n)` of `name` minus `reference` over the seeds both have (a t interval at 95%)."""
    mine = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == name}
    theirs = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == reference}
    return paired(mine, theirs)


def paired(mine, theirs):
    """`(mean, half_width, n)` of `mine[seed] - theirs[seed]` over the seeds both have (a t interval at 95%)."""
    differences = [mine[s] - theirs[s] for s in sorted(mine) if s in theirs]
    if not differences:
        return None, None, 0
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, None, 1
    from scipy import stats

    half = stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences) / len(differences) ** 0.5
    return mean, half, len(differences)


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


def same_size_lines(plan, rows, teachers=None, outside=None):
    """results.md's comparisons of each method whose final model is larger than BLKD's student, at its size.

    With BLKD's loss at that size (e.g. TAKD's assistant), and with the same network trained on labels alone
    (the shared teacher, for Re-KD's and grown GSKD's final model), each paired by seed.
    """
    blkd = _size_rows(
        plan, rows, blkd_models_by_size(rows), "no model of this size trained with BLKD's loss in the study"
    )
    no_labels = "no model of this size trained on labels alone for as many epochs"
    labels = _size_rows(plan, rows, label_models_by_size(rows, plan.recipe.epochs, teachers, outside), no_labels)
    lines = []
    if blkd:
        lines += [
            "",
            "## Against BLKD at the final model's size",
            "",
            "A method whose final model is larger than BLKD's student is compared here with a model of its own "
            "size that BLKD's loss trained from the same teacher, seed and recipe in another run of the study "
            "(e.g. TAKD's assistant), paired by seed.",
            "",
            "| method | final model | BLKD-trained model of that size % (where) | method % (same seeds) | Δ (95% CI) |",
            "|---|---|---|---|---|",
            *blkd,
        ]
    if any(no_labels not in line for line in labels):
        lines += [
            "",
            "## Against the same network trained on labels alone",
            "",
            "The same final models against their network trained on labels alone on the same seed, for the "
            "methods' epochs or more (the shared teacher, or a model another run trained): does distillation "
            "give the larger model anything its labels do not? The label-trained model's epochs are given: the "
            "methods train for `--epochs`, a teacher for `--teacher_epochs`.",
            "",
            "| method | final model | trained on labels % (where, epochs) | method % (same seeds) | Δ (95% CI) |",
            "|---|---|---|---|---|",
            *labels,
        ]
    return lines


def _size_rows(plan, rows, by_size, missing):
    """Table rows comparing each larger final model with `by_size[(seed, arch)]`, paired by seed."""
    blkd_arch = {r["student_arch"] for r in rows if r["method"] == "blkd"}
    lines = []
    for name in plan.all_methods:
        group = [r for r in rows if r["method"] == name]
        archs = {r["student_arch"] for r in group}
        if not group or not blkd_arch or archs <= blkd_arch:
            continue
        for arch in sorted(archs):
            mine = {r["seed"]: float(r["student_accuracy"]) for r in group if r["student_arch"] == arch}
            theirs = {seed: by_size[(seed, arch)] for seed in mine if (seed, arch) in by_size}
            delta, half, n = paired(mine, {seed: accuracy for seed, (accuracy, _) in theirs.items()})
            if delta is None:
                cells = [missing, "", "–"]
            else:
                wheres = "; ".join(sorted({where for _, where in theirs.values()}))
                cells = [
                    f"{_mean_text([accuracy for accuracy, _ in theirs.values()])} ({wheres})",
                    _mean_text([mine[seed] for seed in theirs]),
                    f"{100 * delta:+.2f}" + (f" ± {100 * half:.2f} (n={n})" if half is not None else " (1 seed)"),
                ]
            lines.append(f"| {name} | {arch} | " + " | ".join(cells) + " |")
    return lines


def _mean_text(values):
    mean, std = mean_std(values)
    return f"{_pct(mean)} ± {_pct(std)}" if len(values) > 1 else _pct(mean)


def _pct(value, digits=2):
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _si(value):
    if value in (None, ""):
        return "–"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def write_csv(path, rows):
    def write(temporary):
        with open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    io.replace_atomic(path, write)


def reference_check(plan, rows, teachers, outside):
    """results.md's lines comparing the means over seeds with `--reference` (nothing without it)."""
    if not plan.reference:
        return []
    tolerance = plan.reference_tolerance
    gain_base = "nokd" if "nokd" in plan.reference else None
    lines = [
        "",
        "## Against the reference",
        "",
        (f"Reference: {plan.reference_source}. " if plan.reference_source else "")
        + f"A mean over seeds agrees when it is within {tolerance:g} points of the reference"
        + ("; Δ vs nokd is each method's mean minus NOKD's mean, here and in the reference." if gain_base else "."),
        "",
        "| model | kdkeras % (n seeds) | reference % | difference | agrees |"
        + (" Δ vs nokd, kdkeras / reference |" if gain_base else ""),
        "|---|---|---|---|---|" + ("---|" if gain_base else ""),
    ]

    def accuracy_of(name):
        if name == "teacher":
            found = [t["accuracy"] for t in teachers.values()] or ([outside["accuracy"]] if outside else [])
        else:
            found = [float(r["student_accuracy"]) for r in rows if r["method"] == name]
        return (statistics.fmean(found), len(found)) if found else (None, 0)

    base, _ = accuracy_of(gain_base) if gain_base else (None, 0)
    for name, expected in plan.reference.items():
        mean, n = accuracy_of(name)
        cells = [name]
        if mean is None:
            cells += ["(not run yet)", _pct(expected), "", ""]
        else:
            difference = 100 * (mean - expected)
            cells += [
                f"{_pct(mean)} ({n})",
                _pct(expected),
                f"{difference:+.2f}",
                "yes" if abs(difference) <= tolerance + 1e-9 else "no",
            ]
        if gain_base:
            if name in ("teacher", gain_base) or mean is None or base is None:
                cells.append("")
            else:
                cells.append(f"{100 * (mean - base):+.2f} / {100 * (expected - plan.reference[gain_base]):+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(plan, rows, teachers, study, plots):
    """results.md: the table, the paired differences to BLKD, the study's cost and the recipe."""
    lines = [
        "# KD methods compared on one recipe",
        "",
        f"Dataset `{plan.recipe.dataset}`; {len(rows)} of {len(plan.pairs())} method runs finished. Accuracy is top-1 "
        "on the test split in %, mean ± sample std over the seeds finished (n), then the value of each seed.",
        "",
    ]
    if plan.recipe.dataset == "mnist_sample":
        lines += [
            "mnist_sample is the official MNIST *test* set (10,000 digits) split deterministically into 8,000 "
            "training and 2,000 test digits, stratified by class; numbers on it are not MNIST benchmark numbers.",
            "",
        ]
    lines += [
        "| method | student | n | accuracy % | per seed | Δ vs blkd (95% CI) | teacher % | models trained "
        "| train s | train s with shared teacher | images fwd / bwd | int8 KiB | int8 acc % | TFLM arena KiB "
        "| TFLM flash KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in plan.all_methods:
        group = [r for r in rows if r["method"] == name]
        if not group:
            lines.append(f"| {name} | (not run yet) |" + " |" * 13)
            continue
        delta, half, n_pairs = paired_difference(rows, name)
        if name == "blkd" or delta is None:
            delta_text = "–"
        elif half is None:
            delta_text = f"{100 * delta:+.2f} (1 seed)"
        else:
            delta_text = f"{100 * delta:+.2f} ± {100 * half:.2f} (n={n_pairs})"
        teacher_mean, _ = mean_std(r["teacher_accuracy"] for r in group)
        size, _ = mean_std(r["int8_size_bytes"] for r in group)
        int8_mean, _ = mean_std(r["int8_accuracy"] for r in group)
        arena, _ = mean_std(r["int8_arena_bytes"] for r in group)
        flash, _ = mean_std(r["int8_flash_bytes"] for r in group)
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    ", ".join(sorted({r["student_arch"] for r in group})),
                    str(len(group)),
                    _mean_text([r["student_accuracy"] for r in group]),
                    ", ".join(_pct(float(r["student_accuracy"])) for r in sorted(group, key=lambda r: r["seed"])),
                    delta_text,
                    _pct(teacher_mean),
                    f"{mean_std(r['models_trained'] for r in group)[0]:.0f}"
                    + (" + shared teacher" if plan.uses_shared_teacher(name) else ""),
                    f"{mean_std(r['train_seconds'] for r in group)[0]:.0f}",
                    f"{mean_std(r['total_seconds'] for r in group)[0]:.0f}",
                    f"{_si(mean_std(r['images_forward'] for r in group)[0])} / "
                    f"{_si(mean_std(r['images_backward'] for r in group)[0])}",
                    "–" if size is None else f"{size / 1024:.1f}",
                    _pct(int8_mean),
                    "–" if arena is None else f"{arena / 1024:.1f}",
                    "–" if flash is None else f"{flash / 1024:.1f}",
                ]
            )
            + " |"
        )
    if teachers:
        accuracies = [t["accuracy"] for t in teachers.values()]
        lines.append(
            f"| *shared teacher* | {next(iter(teachers.values()))['arch']} | {len(accuracies)} | "
            f"{_mean_text(accuracies)} | "
            f"{', '.join(_pct(a) for a in accuracies)} | | | 1 per seed | "
            f"{mean_std(t['seconds'] for t in teachers.values())[0]:.0f} | | | | | | |"
        )
    outside = external_teacher(plan)
    if outside:
        lines.append(
            f"| *shared teacher* (`--teacher_checkpoint`, trained outside the study) | {outside['arch']} | 1 | "
            f"{_pct(outside['accuracy'])} | {_pct(outside['accuracy'])} | | | 1, once for every seed | "
            f"{outside['seconds']:.0f} | | | | | | |"
        )
    lines += reference_check(plan, rows, teachers, outside)
    lines += same_size_lines(plan, rows, teachers, outside)
    diagnosed = [r for r in rows if r["diagnostics"]]
    if diagnosed:
        lines += [
            "",
            "## What the methods' own mechanisms logged (first epoch → last epoch)",
            "",
            "| method | seed | model | " + " | ".join(DIAGNOSTICS) + " |",
            "|---|---|---|" + "---|" * len(DIAGNOSTICS),
        ]
        for r in diagnosed:
            for role, found in r["diagnostics"].items():
                cells = [f"{found[m][0]:.4g} → {found[m][1]:.4g}" if m in found else "" for m in DIAGNOSTICS]
                lines.append(f"| {r['method']} | {r['seed']} | {role} | " + " | ".join(cells) + " |")
        lines += ["", "Columns: " + "; ".join(f"`{m}`: {text}" for m, text in DIAGNOSTICS.items()) + "."]
    lines += [
        "",
        "## The whole study's work",
        "",
        f"Each model trained once (models shared between methods through `{os.path.join(plan.output_dir, 'models')}` "
        "and each teacher-cache fill counted once): "
        f"{study.models_trained} models, {study.train_seconds:.0f} training seconds, {_si(study.flops)} "
        "training FLOPs.",
        "",
        "| network | images forward | images backward | FLOPs/image |",
        "|---|---|---|---|",
    ]
    for network, counts in sorted(study.networks.items()):
        lines.append(f"| {network} | {counts['forward']:,} | {counts['backward']:,} | {_si(counts['flops'])} |")
    lines += [
        "",
        "How to read it:",
        "",
        "- Δ vs blkd: the method's accuracy minus BLKD's on the same seed, averaged over the seeds both have, "
        "with a two-sided 95% t interval over those differences.",
        "- *train s* counts every model a method needs as if trained for it (a model reused from another "
        "method's run included); *with shared teacher* adds the shared teacher's training where it is used. "
        "The shared teacher "
        + (
            f"is `--teacher_checkpoint={plan.recipe.teacher_checkpoint}`, trained outside the study"
            + (
                f" ({outside['epochs']} epochs, {outside['seconds']:.0f} s, kdkeras {outside['commit']}); "
                "its seconds are not in the methods' columns." + shared_crops_note(plan, outside)
                if outside
                else "."
            )
            if plan.recipe.teacher_checkpoint
            else "is trained once per seed (its own row)."
        ),
        "- Images (`kdkeras.accounting`): a trained model passes its training images forward and backward "
        "(WSKD adds its step-2 examples); a frozen model passes the images it ran on, or once per teacher-cache fill.",
        "- TFLM arena: the RAM TensorFlow Lite Micro's allocator takes for the int8 file's tensors (measured on "
        "this host with 64-bit pointers); TFLM flash: the file's bytes, which stay in flash.",
        "- int8: full-integer TFLite export of the final student, accuracy on the whole test split in LiteRT"
        + (" (not measured here: `--edge=off`)." if plan.edge == "off" else "."),
        "",
        "Plots: " + (", ".join(f"`{p}`" for p in plots) if plots else "none yet."),
        "",
        "## Recipe (the same for every method)",
        "",
        "```",
        f"--methods={','.join(plan.methods)}",
        f"--seeds={','.join(map(str, plan.seeds))}",
    ]
    if plan.extra_methods:
        lines += [
            f"--extra_methods={','.join(plan.extra_methods)}",
            f"--extra_seeds={','.join(map(str, plan.extra_seeds))}",
        ]
    for name, (method, changes) in plan.variants.items():
        lines.append(f"--variant={name}:{method}:" + ";".join(f"{k}={v}" for k, v in changes.items()))
    if plan.dekd_teacher_epochs:
        lines.append(f"--dekd_teacher_epochs={plan.dekd_teacher_epochs}")
    skip = {"method", "seed", "output_dir", "export", "verbose", "model_store", "teacher_cache_dir"}
    for key, value in plan.recipe.as_dict().items():
        if key not in skip and value is not None:
            lines.append(f"--{key}={','.join(value) if isinstance(value, list) else value}")
    lines += ["```", ""]
    return "\n".join(lines)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cost(path, plan, rows):
    plt = _figure()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, (key, label, log) in zip(
        axes,
        [
            ("total_seconds", "training seconds (with shared teacher)", False),
            ("total_train_flops", "training FLOPs (with shared teacher)", True),
        ],
    ):
        for name in plan.all_methods:
            group = [r for r in rows if r["method"] == name]
            if not group:
                continue
            x, x_std = mean_std(r[key] for r in group)
            y, y_std = mean_std(r["student_accuracy"] for r in group)
            axis.errorbar(x, 100 * y, xerr=x_std, yerr=100 * y_std, fmt="o", capsize=3)
            axis.annotate(name, (x, 100 * y), textcoords="offset points", xytext=(5, 4), fontsize=9)
        axis.set_xlabel(label)
        axis.set_ylabel("student test accuracy %")
        axis.set_xscale("log" if log else "linear")
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"Student accuracy vs training cost ({plan.recipe.dataset}; error bars: std over seeds)")
    figure.tight_layout()
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


def plot_delta(path, plan, rows):
    """Each method's difference to BLKD (paired by seed) with its 95% interval; False if nothing to draw."""
    points = []
    for name in plan.all_methods:
        if name == "blkd":
            continue
        delta, half, n = paired_difference(rows, name)
        if delta is not None:
            points.append((name, 100 * delta, 0.0 if half is None else 100 * half, n))
    if not points:
        return False
    plt = _figure()
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(points) + 1.5))
    for index, (name, delta, half, n) in enumerate(points):
        axis.errorbar(delta, index, xerr=half, fmt="o", capsize=4, color="C0" if n > 1 else "C7")
    axis.set_yticks(range(len(points)), [f"{name} (n={n})" for name, _, _, n in points])
    axis.axvline(0.0, color="black", linewidth=0.8)
    axis.set_xlabel("accuracy − BLKD's, percentage points (95% CI over seeds; grey: one seed)")
    axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)
    return True


def plot_curves(path, plan, curves):
    """Training accuracy, the KD terms and WSKD's step-2 examples per epoch; False if nothing to draw.

    Accuracy and losses are means over seeds. GSKD's term to the previous stage shares the KD panel (dashed) so
    the two can be compared; WSKD's step-2 examples are drawn per seed, since how often the teacher errs depends
    on the seed's crops (`step2_lines`).
    """
    step2 = step2_lines(plan.all_methods, curves)
    panels = {
        title: metrics
        for title, metrics in {
            "accuracy": ["accuracy"],
            "distillation_loss": ["distillation_loss", "previous_distillation_loss"],
        }.items()
        if any(metric in by_metric for by_metric in curves.values() for metric in metrics)
    }
    if step2:
        panels["step2_examples"] = []  # drawn from `step2`, one line per distinct series, not as a mean
    if not panels:
        return False
    plt = _figure()
    colors = plt.get_cmap("tab10" if len(plan.all_methods) <= 10 else "tab20").colors
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for axis, (title, metrics) in zip(axes[0], panels.items()):
        if title == "step2_examples":
            seeds = sorted({seed for _, seed, _ in step2})
            for names, seed, values in step2:
                axis.plot(
                    range(1, len(values) + 1),
                    values,
                    label=f"{', '.join(names)} seed {seed}",
                    color=colors[plan.all_methods.index(names[0]) % len(colors)],
                    linestyle=("-", "--", ":", "-.")[seeds.index(seed) % 4],
                )
        for index, name in enumerate(plan.all_methods):
            for metric in metrics:
                by_seed = curves.get(name, {}).get(metric)
                if not by_seed:
                    continue
                style = {
                    "color": colors[index % len(colors)],
                    "linestyle": "--" if metric.startswith("previous") else "-",
                }
                label = name + (" to previous stage" if metric.startswith("previous") else "")
                epochs = min(len(values) for values in by_seed.values())
                scale = 100.0 if metric == "accuracy" else 1.0
                mean = [scale * statistics.fmean(values[e] for values in by_seed.values()) for e in range(epochs)]
                axis.plot(range(1, epochs + 1), mean, label=f"{label} (n={len(by_seed)})", **style)
        axis.set_title(CURVES[title], fontsize=10)
        axis.set_xlabel("epoch")
        axis.xaxis.get_major_locator().set_params(integer=True)
        if title.endswith("loss"):
            axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"Training curves of each method's final model ({plan.recipe.dataset})")
    figure.tight_layout()
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)
    return True


def provenance_lines(plan, payloads):
    """How to reproduce the table: the command, the commits the runs were trained with, the machine, the versions."""
    import collections

    found = provenance.describe()
    trained_with = collections.Counter(
        commit
        for p in payloads
        for commit in provenance.split_commits(p.get("provenance", {}).get("kdkeras_commit", "not recorded"))
    )
    commits = "; ".join(f"{commit}: {n} run{'s' if n > 1 else ''}" for commit, n in sorted(trained_with.items()))
    return [
        "## Provenance",
        "",
        f"- Command: `{plan.command}`",
        f"- kdkeras commit when this invocation started: {plan.commit}",
        f"- kdkeras commits the finished runs' models were trained with (runs per commit; a run whose models "
        f"were trained under several commits counts under each): {commits or 'none yet'}",
        f"- Machine: {found['cpu']}, {found['logical_cpus']} logical CPUs; Python {found['python']}, "
        f"TensorFlow {found['tensorflow']}, Keras {found['keras']}",
        "- Training seconds are wall-clock on that machine, which other work may have shared; compare seconds "
        "only within one table, and FLOPs and images across tables.",
        "",
    ]


def write_summary(plan):
    rows, teachers, payloads = collect(plan)
    out = plan.results_dir or plan.output_dir
    os.makedirs(out, exist_ok=True)
    write_csv(os.path.join(out, "results.csv"), rows)
    plots = []
    if rows:
        plot_cost(os.path.join(out, "cost.png"), plan, rows)
        plots.append("cost.png")
        if plot_delta(os.path.join(out, "delta.png"), plan, rows):
            plots.append("delta.png")
        if plot_curves(os.path.join(out, "curves.png"), plan, training_curves(rows)):
            plots.append("curves.png")
    text = markdown(plan, rows, teachers, accounting.study_work(payloads), plots) + "\n".join(
        provenance_lines(plan, payloads)
    )

    def write(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    path = os.path.join(out, "results.md")
    io.replace_atomic(path, write)
    return path


# --- command --------------------------------------------------------------------------------------------------


@cli.run(on_interrupt=cli.RESUME_HINT)
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    plan = plan_from_flags(FLAGS)
    if FLAGS.report_only:
        print(f"[compare] wrote {write_summary(plan)} from the finished runs; nothing trained")
        return
    runs = plan.runs()
    print(f"[compare] {len(runs)} runs in {plan.output_dir}", flush=True)
    with cli.naming_flag("--dataset", plan.recipe.dataset):
        failed = run_all(plan)
    if failed:
        print(
            f"[compare] {len(failed)} runs failed: {', '.join(failed)}; run the same command again to retry them",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    cli.quiet_tensorflow_logs()
    app.run(main, flags_parser=cli.parse_flags)
