"""`python -m kdkeras.tune --flagfile=configs/tune/blkd.flags`: search a method's distillation knobs.

Every `kdkeras.train` flag describes the recipe (data, architectures,
epochs, optimizer, ...); the extra flags below describe the search. A
keras-tuner oracle (`--tuner=random|bayesian|hyperband`) proposes values of
the method's knobs (its unit's `knobs` in `kdkeras.methods`, each in the
`Tune` range its setting declares); each trial trains the method's
models exactly as `kdkeras.train` would (through `kdkeras.pipelines`) on the
training part of the data, and is scored by the final student's accuracy on
the validation split (`--validation_fraction` of the training data, held out
by `--seed`). The test split is never read: inside a search, the runs are
handed the validation split in place of the test split.

The fixed network the method learns from (the teacher; a trained copy of the
student for tfkd_self and rekd; the early-stopped teacher of dekd) is trained
once, in `tune_dir/teacher`, or loaded from `--teacher_checkpoint`, and
shared by every trial.

Files in `--tune_dir` (or `--output_dir`: either names the search's directory):

- `search/`: keras-tuner's project (oracle state and one `trial_*` per
  trial); run the same command again and an interrupted search resumes
  there, retrying the trial that was cut short (it resumes from its own
  per-epoch backup), or extends the search when `--max_trials` grew;
- `trials/<trial id>/`: each trial's models, logs and records;
- `teacher/`: the shared teacher;
- `best.flags`: every `kdkeras.train` flag with the best trial's values,
  written after every trial: `python -m kdkeras.train --flagfile=TUNE_DIR/best.flags`;
- `best.json`: the best values and score, and every trial;
- `search.json`: the settings of the search, to refuse a resume with others.
"""

import dataclasses
import os

from absl import app, flags  # noqa: E402

from kdkeras import (  # noqa: E402
    cli,
    experiment,
    io,
    methods,  # noqa: E402
)
from kdkeras import config as train_config
from kdkeras.errors import DivergenceError, TrainingError, UsageError, check  # noqa: E402
from kdkeras.pipelines import Run, links  # noqa: E402
from kdkeras.run_directory import by_content, check_settings, claim  # noqa: E402

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVE = "val_accuracy"

# Settings a resumed search may change: they do not change what a trial trains.
_NOT_SEMANTIC = train_config.NOT_SEMANTIC + ("max_trials",)

train_config.define_flags()  # every kdkeras.train flag: the recipe
flags.DEFINE_enum("tuner", "random", list(TUNERS), "keras-tuner oracle: random, bayesian or hyperband")
flags.DEFINE_integer("max_trials", 10, "trials of the search (with hyperband: the most it runs)")
flags.DEFINE_string("tune_dir", "", "the search's directory (default --output_dir if given, else runs/tune/<method>)")
flags.DEFINE_list(
    "knobs", [], "knobs to search, comma-separated (default: all of the method's); the others keep their flag value"
)
flags.DEFINE_multi_string(
    "assistant_choices",
    [],
    "takd: a candidate assistant chain, largest first, comma-separated; repeat the flag for more "
    "(default: --assistants and each architecture of the teacher's or student's family sized between them)",
)
flags.DEFINE_integer("hyperband_factor", 3, "hyperband: reduction factor of the successive halving (>= 2)")
FLAGS = flags.FLAGS


@dataclasses.dataclass
class TuneOptions:
    """The settings of the search itself (the recipe is a `TrainConfig`)."""

    tuner: str = "random"
    max_trials: int = 10
    tune_dir: str = ""
    knobs: tuple = ()
    assistant_choices: tuple = ()
    hyperband_factor: int = 3
    best_output_dir: str = ""  # output_dir written into best.flags (default tune_dir/best)

    def validate(self, config):
        """Raises `UsageError` for the first setting that cannot be used; fills defaults."""
        check(self.tuner in TUNERS, f"--tuner={self.tuner}: expected one of {', '.join(TUNERS)}")
        if self.tuner == "bayesian":
            import importlib.util

            check(
                importlib.util.find_spec("sklearn") is not None,
                "--tuner=bayesian: keras-tuner's Bayesian optimisation needs scikit-learn; "
                "pip install scikit-learn (or use --tuner=random or hyperband)",
            )
        check(self.max_trials >= 1, f"--max_trials={self.max_trials}: expected an integer >= 1")
        check(self.hyperband_factor >= 2, f"--hyperband_factor={self.hyperband_factor}: expected an integer >= 2")
        check(
            methods.get(config.method).knobs,
            f"--method={config.method}: no distillation knobs to search; expected one of "
            + ", ".join(m for m in methods.names() if methods.get(m).knobs),
        )
        check(
            config.validation_fraction > 0,
            f"--validation_fraction={config.validation_fraction}: a search is scored on a validation split; "
            "expected a value in (0, 1), e.g. 0.1",
        )
        check(
            config.strategy != "multi_worker",
            "--strategy=multi_worker: a search runs in one process; use auto, default or mirrored",
        )
        knobs = methods.get(config.method).knobs
        for knob in self.knobs:
            check(
                knob in knobs,
                f"--knobs: {knob!r} is not a knob of {config.method}; expected names from {', '.join(knobs)}",
            )
        check(len(set(self.knobs)) == len(self.knobs), "--knobs: a knob is listed twice")
        if config.teacher_checkpoint:
            takers = [m for m in methods.names() if methods.get(m).takes_teacher_checkpoint]
            check(
                config.method in takers,
                f"--teacher_checkpoint: {config.method} does not learn from --teacher "
                f"(only {', '.join(takers)} do); remove it",
            )
        from kdkeras import models

        for chain in self.assistant_choices:
            check("assistants" in knobs, f"--assistant_choices: {config.method} has no assistants to search")
            check(_chain(chain), "--assistant_choices: an empty chain; expected architectures, e.g. resnet20,resnet14")
            for arch in _chain(chain):
                check(
                    arch in models.names(),
                    f"--assistant_choices={chain}: {arch!r} is not an architecture; expected names from "
                    f"{', '.join(models.names())}",
                )
        if not self.tune_dir:
            self.tune_dir = os.path.join("runs", "tune", config.method)
        if not self.best_output_dir:
            self.best_output_dir = os.path.join(self.tune_dir, "best")
        return self

    def searched(self, config):
        """The knobs this search varies."""
        return tuple(self.knobs) or methods.get(config.method).knobs


def _chain(text):
    return tuple(a.strip() for a in text.split(",") if a.strip())


def search_space(config, options, info):
    """The keras-tuner `HyperParameters` declaring the knobs `options` searches for `config.method`."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    knobs = options.searched(config)
    ranges = methods.tune_ranges()
    for name in knobs:
        knob = ranges[name]
        conditions = {}
        if knob.only_if:
            parent, value = knob.only_if
            if parent in knobs:
                conditions = dict(parent_name=parent, parent_values=[value])
            else:
                check(
                    getattr(config, parent) == value,
                    f"--knobs: {name} acts only with --{parent}={value}, not {getattr(config, parent)}",
                )
        if knob.candidates:
            hp.Choice(name, knob.candidates(config, info, [_chain(c) for c in options.assistant_choices]))
        elif knob.is_choice:
            hp.Choice(name, list(knob.choices), **conditions)
        else:
            default = min(max(getattr(config, name), knob.low), knob.high)
            hp.Float(name, knob.low, knob.high, sampling=knob.sampling, default=default, **conditions)
    return hp


def trial_config(base, values, output_dir):
    """The `TrainConfig` of a trial: `base` with the trial's knob values."""
    changes = {}
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        changes[name] = _chain(value) if isinstance(getattr(base, name), tuple) else value
    if "tuner/epochs" in values:  # hyperband's budget for this trial
        changes["epochs"] = int(values["tuner/epochs"])
    return dataclasses.replace(base, output_dir=output_dir, export=(), **changes)


class Search:
    """One search: the recipe, the data, the shared teacher and the files of record."""

    def __init__(self, config, options):
        self.config = config
        self.options = options
        self.tune_dir = options.tune_dir
        self.splits = None  # what every run of the search sees: validation in place of test
        self.strategy = None
        self.teacher = None
        self.teacher_record = None
        self.space = None
        self.usage_error = None

    def path(self, *parts):
        return os.path.join(self.tune_dir, *parts)

    def check_directory(self):
        """Refuses a `tune_dir` holding a search with other settings; records ours."""
        searched = self.options.searched(self.config)
        recipe = {k: v for k, v in self.config.as_dict().items() if k not in _NOT_SEMANTIC and k not in searched}
        ours = {
            "tuner": self.options.tuner,
            "knobs": list(searched),
            "assistant_choices": list(self.options.assistant_choices),
            "hyperband_factor": self.options.hyperband_factor if self.options.tuner == "hyperband" else None,
            **recipe,
        }
        check_settings(
            self.tune_dir,
            by_content(ours),
            record="search.json",
            flag="--tune_dir",
            what="search",
            ignored=methods.unread_settings(self.config.method),
        )

    def prepare(self):
        """Loads the data and the shared teacher; declares the search space."""
        config = self.config
        os.makedirs(self.tune_dir, exist_ok=True)
        self.check_directory()
        self.strategy, splits = experiment.prepare(config)
        # Runs evaluate every model on `splits.test`: in a search that is the validation split.
        self.splits = dataclasses.replace(splits, test=splits.validation)
        self.space = search_space(config, self.options, splits.info)
        print(
            f"[kdkeras.tune] {config.method} on {config.dataset}: {splits.info.num_train} training examples, "
            f"{splits.info.num_validation} for validation (the objective; the test split is not read: "
            "'test accuracy' below means validation accuracy)"
        )
        self.teacher = self.shared_teacher()

    def run_in(self, config, teacher=None):
        """A `Run` of `config` on the search's data, learning from `teacher` if given.

        It uses no model store: in a search a record's "test accuracy" is the
        validation accuracy, which a model store must not hand to a run.
        """
        return Run(dataclasses.replace(config, model_store=None), self.splits, self.strategy, teacher=teacher)

    def shared_teacher(self):
        """The fixed network the method learns from, trained (or loaded) once; None if there is none."""
        run = self.run_in(dataclasses.replace(self.config, output_dir=self.path("teacher")))
        teacher = links.teacher_of(run, methods.get(self.config.method).teacher)
        if teacher is None:
            return None
        self.teacher_record = dict(run.records[-1])
        self.teacher_record["val_accuracy"] = self.teacher_record.pop("test_accuracy")
        return teacher

    def teacher_checkpoint(self):
        """What best.flags gives as `--teacher_checkpoint`: the search's teacher, where kdkeras.train uses one."""
        if not methods.get(self.config.method).takes_teacher_checkpoint:
            return None
        return os.path.abspath(self.config.teacher_checkpoint or self.path("teacher", "teacher.keras"))

    def run_trial(self, trial):
        """Trains the trial's models as kdkeras.train would; returns the student's validation accuracy."""
        import keras

        from kdkeras.pipelines import records

        config = trial_config(self.config, trial.hyperparameters.values, self.path("trials", trial.trial_id))
        config.validate()
        keras.utils.set_random_seed(config.seed)  # every trial starts from the same weights and order
        run = self.run_in(config, teacher=self.teacher)
        roles = methods.get(config.method).pipeline(run)
        return records.accuracy(run.models[roles["student"]], self.splits.validation)

    def summary(self, oracle):
        """The content of best.json (None before a trial has finished)."""
        trials = []
        for trial in sorted(oracle.trials.values(), key=lambda t: t.trial_id):
            score = trial.score if trial.status == "COMPLETED" else None
            trials.append(
                {
                    "trial_id": trial.trial_id,
                    "status": trial.status,
                    OBJECTIVE: score,
                    "values": dict(trial.hyperparameters.values),
                }
            )
        best = oracle.get_best_trials(1)
        if not best or best[0].score is None:
            return None
        best = best[0]
        return {
            "method": self.config.method,
            "tuner": self.options.tuner,
            "objective": f"{OBJECTIVE}: the final student's accuracy on the validation split",
            "num_validation": self.splits.info.num_validation,
            "best": {"trial_id": best.trial_id, OBJECTIVE: best.score, "values": self.best_values(best)},
            "best_flagfile": self.path("best.flags"),
            "teacher": self.teacher_record,
            "search_space": self.space.get_config(),
            "trials": trials,
            "flags": self.best_config(best).as_dict(),
        }

    def best_values(self, trial):
        values = trial.hyperparameters.values
        return {k: v for k, v in values.items() if not k.startswith("tuner/") and trial.hyperparameters.is_active(k)}

    def best_config(self, trial):
        config = trial_config(self.config, self.best_values(trial), self.options.best_output_dir)
        return dataclasses.replace(config, epochs=self.config.epochs, teacher_checkpoint=self.teacher_checkpoint())

    def write_best(self, oracle):
        """Writes best.flags and best.json for the best trial so far (atomically)."""
        payload = self.summary(oracle)
        if payload is None:
            return None
        best = oracle.get_best_trials(1)[0]
        completed = sum(1 for t in payload["trials"] if t["status"] == "COMPLETED")
        header = (
            f"The best of {completed} trials of a {self.options.tuner} search by kdkeras.tune: trial_{best.trial_id}, "
            f"validation accuracy {best.score:.4f}.",
            f"Train it: python -m kdkeras.train --flagfile={self.path('best.flags')}",
        )
        text = train_config.to_flagfile(self.best_config(best), header)

        def write(temporary):
            with open(temporary, "w") as f:
                f.write(text)

        io.replace_atomic(self.path("best.flags"), write)
        io.write_json_atomic(self.path("best.json"), payload)
        return payload


def make_tuner(search):
    """The keras-tuner `Tuner` around the chosen oracle, reloading `tune_dir/search` if it exists."""
    import keras_tuner

    config, options = search.config, search.options
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    common = dict(objective=objective, hyperparameters=search.space, allow_new_entries=False, seed=config.seed)
    if options.tuner == "random":
        oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=options.max_trials, **common)
    elif options.tuner == "bayesian":
        oracle = keras_tuner.oracles.BayesianOptimizationOracle(max_trials=options.max_trials, **common)
    else:
        oracle = keras_tuner.oracles.HyperbandOracle(
            max_epochs=config.epochs, factor=options.hyperband_factor, **common
        )
        oracle.max_trials = options.max_trials  # Oracle.create_trial stops there

    class DistillationTuner(keras_tuner.Tuner):
        """Each trial trains the kdkeras method with the trial's knobs; its score is the validation accuracy."""

        def run_trial(self, trial, *args, **kwargs):
            try:
                return {OBJECTIVE: search.run_trial(trial)}
            except UsageError as error:
                search.usage_error = error
                raise keras_tuner.errors.FatalError(str(error)) from None
            except DivergenceError as error:
                print(f"[kdkeras.tune] trial {trial.trial_id} failed: {error}")
                raise keras_tuner.errors.FailedTrialError(str(error)) from None

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            search.write_best(self.oracle)

    return DistillationTuner(oracle, directory=search.tune_dir, project_name="search", overwrite=False)


def tune(config, options):
    """Runs (or resumes) the search; returns the content of best.json.

    The search claims `tune_dir` while it runs (`run_directory.claim`), so a
    second search there ends at once naming this one.
    """
    with claim(options.tune_dir, flag="--tune_dir", what="search"):
        return _search(config, options)


def _search(config, options):
    import keras_tuner

    search = Search(config, options)
    search.prepare()
    tuner = make_tuner(search)
    tuner.search_space_summary()
    try:
        tuner.search(verbose=config.verbose)
    except keras_tuner.errors.FatalError as error:
        if search.usage_error is not None:
            raise search.usage_error from None
        raise TrainingError(f"the search stopped: {error}") from None
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        raise TrainingError(
            f"the search stopped: {str(error).splitlines()[0]} (see the trials in {search.path('search')})"
        ) from None
    payload = search.write_best(tuner.oracle)
    if payload is None:
        raise TrainingError(f"no trial finished; see the trials in {search.path('search')}")
    best = payload["best"]
    values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["values"].items())
    print(
        f"[kdkeras.tune] best of {len(payload['trials'])} trials: trial_{best['trial_id']} in {search.path('search')}, "
        f"{OBJECTIVE} {best[OBJECTIVE]:.4f} ({values}); "
        f"train it: python -m kdkeras.train --flagfile={payload['best_flagfile']}"
    )
    return payload


def from_flags(values):
    """`(TrainConfig, TuneOptions)` from parsed flag values, validated."""
    config = train_config.from_flags(values)
    if "assistants" in methods.get(config.method).knobs and not config.assistants and values.assistant_choices:
        # The search chooses the chain; --assistants only names the default.
        config = dataclasses.replace(config, assistants=_chain(values.assistant_choices[0]))
    config.validate()
    options = TuneOptions(
        tuner=values.tuner,
        max_trials=values.max_trials,
        knobs=tuple(k.strip() for k in values.knobs if k.strip()),
        assistant_choices=tuple(c.strip() for c in values.assistant_choices),
        hyperband_factor=values.hyperband_factor,
        tune_dir=_tune_dir(values),
    )
    return config, options.validate(config)


def _tune_dir(values):
    """The search's directory: `--tune_dir`, or `--output_dir` (the one flag `kdkeras.train` users know).

    Both at once would leave one unused, so that is refused; best.flags
    always trains into `<tune_dir>/best`.
    """
    if values["output_dir"].present:
        check(
            not values["tune_dir"].present,
            f"--output_dir={values.output_dir} and --tune_dir={values.tune_dir}: both name the search's "
            "directory; give one",
        )
        return values.output_dir
    return values.tune_dir


@cli.run(on_interrupt="run the same command again to go on with the search; finished trials are kept")
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    settings, options = from_flags(FLAGS)
    with cli.naming_flag("--dataset", settings.dataset):
        tune(settings, options)


if __name__ == "__main__":
    FLAGS.set_default("validation_fraction", 0.1)
    app.run(main, flags_parser=cli.parse_flags)
