"""The study's plan: which runs it trains (methods, variants, seeds) and each run's settings, from its flags.

Every training flag is the shared recipe. What the study needs to know of a method (whether it learns from
the shared teacher, which method its paired difference is reported against, the study-wide flags it owns)
comes from its unit in `kdkeras.methods` (`study_role`); no method is named here.
"""

import collections
import dataclasses
import os
import sys

from absl import flags

from kdkeras import config as train_config
from kdkeras import methods
from kdkeras.errors import UsageError, check
from kdkeras.study import peer as peer_file

__all__ = ["Plan", "define_flags", "plan_from_flags", "study_role", "method_names"]

EDGE_MODES = ("on", "off")
# Folders of a study's output or results folder that are not a method's, so no variant may take their names.
FOLDERS = ("teacher", "models", "cache", "records")


def method_names():
    return methods.names()


def study_role(method):
    """What a study needs to know of `method`, from its unit (`kdkeras.methods.StudyRole`).

    shares_teacher: it learns from a well-trained `--teacher`, so the study trains one shared teacher (or
        takes `--teacher_checkpoint`) for it;
    compared_with: the method its paired difference is reported against (None: a baseline);
    flags: `StudyFlag`s it owns, each setting the `TrainConfig` field `replaces` in its runs when non-zero.
    """
    return methods.get(method).study


def baseline():
    """The method the KD methods are compared with: the one most of them name."""
    named = collections.Counter(study_role(m).compared_with for m in method_names())
    named.pop(None, None)
    return named.most_common(1)[0][0]


def labels_only():
    """The method trained on labels alone: neither sharing the teacher nor compared with another."""
    roles = {m: study_role(m) for m in method_names()}
    return next(m for m, r in roles.items() if not r.shares_teacher and r.compared_with is None)


def study_flags():
    """The study-wide flags the methods own, each once."""
    return list(methods.study_flags().values())


def define_flags():
    """The study's flags on absl's FLAGS: the training recipe's, the plan's, and the methods' own."""
    train_config.define_flags()
    methods = method_names()
    flags.DEFINE_list("methods", list(methods), "methods (or --variant names) to compare on every seed")
    flags.DEFINE_string("seeds", "3", "a count N (seeds --seed .. --seed+N-1) or a comma-separated list (e.g. 0,1,2)")
    flags.DEFINE_list("extra_methods", [], "methods (or variants) run on --extra_seeds only, after all of --methods")
    flags.DEFINE_string("extra_seeds", "1", "seeds of --extra_methods, as --seeds")
    flags.DEFINE_multi_string(
        "variant", [], "NAME:METHOD:flag=value[;flag=value...], a method with other settings, compared as NAME"
    )
    flags.DEFINE_string("edge", "on", "int8 TFLite export of each final student, measured in LiteRT: on or off")
    for flag in study_flags():
        define = flags.DEFINE_float if isinstance(flag.default, float) else flags.DEFINE_integer
        define(flag.name, flag.default, flag.help)
    flags.DEFINE_string(
        "peer",
        "",
        "a peer implementation's results (JSON, as tools/torch_peer.py writes) to check the study against; "
        "a missing file: the report says the peer was not run",
    )
    flags.DEFINE_list(
        "reference",
        [],
        "published accuracies to check the study against, in %: NAME=PERCENT for a method or the teacher "
        "(e.g. teacher=86.35,nokd=80.56,blkd=81.89); --peer reads them from a file instead",
    )
    flags.DEFINE_float(
        "reference_tolerance", 0.7, "points within which a mean over seeds agrees with --reference or --peer"
    )
    flags.DEFINE_string("reference_source", "", "where --reference comes from, for results.md")
    flags.DEFINE_bool(
        "report_only",
        False,
        "write results.md, results.csv and the plots from the runs finished so far and train nothing "
        "(safe beside a study still running)",
    )
    flags.DEFINE_string("results_dir", "", "where results.md, results.csv and the plots go (default: --output_dir)")
    flags.DEFINE_list(
        "differences",
        [],
        "further paired differences for the report, A:B,... (A's accuracy minus B's, seed by seed), beside each "
        "row's difference to its own reference (e.g. dist:blkd_loss_weight5 for a control)",
    )
    flags.DEFINE_list(
        "run_only",
        [],
        "train only these runs of the study now, NAME (each seed the study gives it) or NAME@SEED; the report "
        "still covers the whole study (a flagfile that runs part of a study leaves its report whole)",
    )
    flags.FLAGS.set_default("output_dir", "runs/compare")


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


def _setting(text, key, value):
    """`value` (text) as the type of `TrainConfig`'s field `key`."""
    default = getattr(train_config.TrainConfig(), key)
    if isinstance(default, bool):
        check(value.lower() in ("true", "false", "1", "0"), f"--variant={text}: {key} expects true or false")
        return value.lower() in ("true", "1")
    if isinstance(default, tuple):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    kind = type(default) if default is not None else float
    try:
        return kind(value)
    except ValueError:
        raise UsageError(f"--variant={text}: {key}={value} is not a {kind.__name__}") from None


def parse_variants(texts):
    """`{name: (method, {field: value})}` from `--variant=NAME:METHOD:flag=value;...`."""
    fields = {f.name for f in dataclasses.fields(train_config.TrainConfig)}
    methods = method_names()
    variants = {}
    for text in texts:
        parts = text.split(":", 2)
        check(len(parts) == 3 and all(parts), f"--variant={text}: expected NAME:METHOD:flag=value[;flag=value...]")
        name, method, settings = parts
        check(
            name not in methods and name not in variants and name not in FOLDERS,
            f"--variant={text}: the name {name!r} is taken",
        )
        check(method in methods, f"--variant={text}: {method!r} is not a method; expected one of {', '.join(methods)}")
        changes = {}
        for item in settings.split(";"):
            key, _, value = item.partition("=")
            key = key.strip().lstrip("-")
            check(
                key in fields and key not in ("method", "seed", "output_dir"),
                f"--variant={text}: {key!r} is not a setting",
            )
            changes[key] = _setting(text, key, value)
        variants[name] = (method, changes)
    return variants


def parse_methods(values, variants, flag):
    names = [m.strip() for m in values if m.strip()]
    known = list(method_names()) + list(variants)
    for m in names:
        check(m in known, f"{flag}: {m!r} is not a method; expected names from {', '.join(known)}")
    check(len(set(names)) == len(names), f"{flag}: a method is listed twice")
    return names


def parse_differences(items, names):
    """`--differences` as `[(a, b), ...]`: both names rows of the study, and different."""
    found = []
    for item in items:
        a, _, b = item.partition(":")
        a, b = a.strip(), b.strip()
        check(
            a in names and b in names and a != b,
            f"--differences={item}: expected A:B with A and B two different rows of the study ({', '.join(names)})",
        )
        found.append((a, b))
    return found


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


@dataclasses.dataclass
class Plan:
    """A study: every method (or variant) on every seed, on one recipe.

    Args:
        recipe: the shared `TrainConfig`.
        methods, seeds: the core rows; extra_methods, extra_seeds: rows run after every core one.
        variants: `{name: (method, {field: value})}`.
        output_dir: where the runs train (`<name>/seed<k>`), sharing `models/` and `cache/`.
        edge: "on" to export and measure each final student's int8 TFLite file.
        study_settings: `{flag: value}` of the study-wide flags the methods own (`study_flags`).
        results_dir: where the report and the runs' small records (`records/`) go.
        command: what trains the study, for its provenance (the commits are the runs' own, in their records).
        reference, reference_tolerance, reference_source: accuracies to check the means against.
        peer, peer_path: the peer file (None when not run) and its path.
        run_only: `(name, seed or None)` of the runs to train now (empty: all); the report is the whole study.
        differences: `(a, b)` of the further paired differences the report gives (a's accuracy minus b's).

    Example:
        plan = plan_from_flags(FLAGS, sys.argv)
        for label, name, seed, config in plan.runs(): ...
    """

    recipe: train_config.TrainConfig
    methods: list
    seeds: list
    extra_methods: list
    extra_seeds: list
    variants: dict
    output_dir: str
    edge: str
    study_settings: dict = dataclasses.field(default_factory=dict)
    results_dir: str = ""
    command: str = ""
    reference: dict = dataclasses.field(default_factory=dict)
    reference_tolerance: float = 0.7
    reference_source: str = ""
    peer: dict = None
    peer_path: str = ""
    run_only: tuple = ()
    differences: list = dataclasses.field(default_factory=list)

    def method_of(self, name):
        return self.variants[name][0] if name in self.variants else name

    def role(self, name):
        return study_role(self.method_of(name))

    def uses_shared_teacher(self, name):
        return self.role(name).shares_teacher

    @property
    def baseline(self):
        return baseline()

    @property
    def labels_only(self):
        return labels_only()

    def compared_with(self, name):
        """The method `name`'s paired difference is reported against: its own, else the baseline; None for the
        baseline itself. (NOKD, compared with none, shows what distillation gives.)"""
        against = self.role(name).compared_with or self.baseline
        return None if name == against else against

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

    @property
    def report_dir(self):
        return self.results_dir or self.output_dir

    @property
    def keeps_records(self):
        """Whether the runs' small records are copied beside the report (a results folder apart from the runs)."""
        return os.path.abspath(self.report_dir) != os.path.abspath(self.output_dir)

    def records_dir(self, name, seed):
        """Where a run's small records are kept beside the report; `name` None for the shared teacher."""
        return os.path.join(self.report_dir, "records", name or "teacher", f"seed{seed}")

    @property
    def kept_teacher_dir(self):
        """Where the `--teacher_checkpoint` model and its records are kept beside the report."""
        return os.path.join(self.report_dir, "teacher")

    @property
    def cache_dir(self):
        return self.recipe.teacher_cache_dir or os.path.join(self.output_dir, "cache")

    def _common(self):
        """What every run of the study shares: one model store and one teacher-cache folder."""
        return dict(
            model_store=os.path.join(self.output_dir, "models"),
            teacher_cache_dir=self.cache_dir,
            export=("int8",) if self.edge == "on" else (),
        )

    def teacher_config(self, seed):
        r = self.recipe
        return dataclasses.replace(
            r,
            method=labels_only(),
            student=r.teacher,
            epochs=r.teacher_epochs,
            seed=seed,
            output_dir=self.teacher_dir(seed),
            teacher_checkpoint=None,
            **dict(self._common(), export=()),
        )

    def method_config(self, name, seed):
        changes = dict(self.variants[name][1]) if name in self.variants else {}
        changes.update(method=self.method_of(name), seed=seed, output_dir=self.run_dir(name, seed), **self._common())
        changes["teacher_checkpoint"] = self.teacher_checkpoint(seed) if self.uses_shared_teacher(name) else None
        for flag in self.role(name).flags:
            if self.study_settings.get(flag.name):
                changes[flag.replaces] = self.study_settings[flag.name]
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

    def selected(self, name, seed):
        """Whether `--run_only` lets the run of `name` on `seed` train now."""
        return not self.run_only or any(m == name and s in (None, seed) for m, s in self.run_only)

    def runs_to_train(self):
        """`runs()` that `--run_only` selects, each with the shared teacher it needs."""
        chosen = [(n, s) for n, s in self.pairs() if self.selected(n, s)]
        needed = {s for n, s in chosen if self.trains_shared_teacher and self.uses_shared_teacher(n)}
        return [run for run in self.runs() if (run[1], run[2]) in chosen or (run[1] is None and run[2] in needed)]


def parse_run_only(items, plan):
    """`--run_only` as `((name, seed or None), ...)`, each a run of `plan`."""
    selected = []
    for item in (i.strip() for i in items if i.strip()):
        name, at, seed_text = item.partition("@")
        check(
            name in plan.all_methods,
            f"--run_only={item}: {name!r} is not in the study; expected one of {', '.join(plan.all_methods)}",
        )
        seed = None
        if at:
            check(seed_text.isdigit(), f"--run_only={item}: expected NAME or NAME@SEED with SEED an integer")
            seed = int(seed_text)
            check((name, seed) in plan.pairs(), f"--run_only={item}: the study does not run {name} on seed {seed}")
        selected.append((name, seed))
    return tuple(selected)


def _study_settings(values):
    settings = {}
    for flag in study_flags():
        value = values[flag.name].value
        kind = "a number" if isinstance(flag.default, float) else "an integer"
        check(value >= 0, f"--{flag.name}={value}: expected {kind} >= 0")
        settings[flag.name] = value
    return settings


def _reference(values, names):
    """`(reference, source, peer)` from `--peer` (a file) or `--reference` (typed numbers)."""
    check(
        not (values.peer and values.reference),
        "--peer and --reference: give one (--peer reads the reference from the peer's file)",
    )
    if not values.peer:
        return parse_reference(values.reference, names), values.reference_source, None
    peer = peer_file.load(values.peer)
    if peer is None:
        return {}, "", None
    reference = {name: value for name, value in peer["accuracy"].items() if name in ("teacher", *names)}
    return reference, peer.get("source", values.peer), peer


def plan_from_flags(values, argv=None):
    """The `Plan` of absl flag `values`, every run's settings checked before anything is trained.

    `argv` is the command line, shown in the report (without `--report_only`) as the command that trains it.
    """
    check(not values["method"].present, "--method: compare runs every method of --methods; remove --method")
    recipe = train_config.from_flags(values)
    edge = values.edge.strip().lower()
    check(edge in EDGE_MODES, f"--edge={values.edge}: expected one of {', '.join(EDGE_MODES)}")
    settings = _study_settings(values)
    variants = parse_variants(values.variant)
    methods = parse_methods(values.methods, variants, "--methods")
    extra = parse_methods(values.extra_methods, variants, "--extra_methods")
    check(methods or extra, "--methods: expected at least one of " + ", ".join(method_names()))
    seeds = parse_seeds(values.seeds, recipe.seed)
    reference, source, peer = _reference(values, methods + extra)
    argv = sys.argv if argv is None else argv
    plan = Plan(
        recipe=recipe,
        methods=methods,
        seeds=seeds,
        extra_methods=extra,
        extra_seeds=parse_seeds(values.extra_seeds, seeds[0], "--extra_seeds"),
        variants=variants,
        output_dir=recipe.output_dir,
        edge=edge,
        study_settings=settings,
        results_dir=values.results_dir or recipe.output_dir,
        # The command that trains the study; a --report_only invocation only writes its tables.
        command=" ".join(["python tools/compare.py"] + [a for a in argv[1:] if a != "--report_only"]),
        reference=reference,
        reference_tolerance=values.reference_tolerance,
        reference_source=source,
        peer=peer,
        peer_path=values.peer,
        differences=parse_differences(values.differences, methods + extra),
    )
    plan = dataclasses.replace(plan, run_only=parse_run_only(values.run_only, plan))
    for _, _, _, config in plan.runs():  # every run's settings are checked before anything is trained
        config.validate()
    return plan
