"""kdkeras.tune: the search space, the bad-input paths, and a tiny search that
is interrupted, resumes, never reads the test split, and whose best.flags trains."""

import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from kdkeras import methods, tune
from kdkeras.config import METHODS, TrainConfig
from kdkeras.data import DatasetInfo
from kdkeras.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = DatasetInfo(name="mnist_sample", input_shape=(28, 28, 1), num_classes=10, num_train=7200, num_test=2000)


def tiny(tmp_path, method="blkd", **changes):
    """A recipe that trains in seconds on 2 CPU cores."""
    settings = dict(
        method=method,
        dataset="mnist_sample",
        teacher="plain2",
        student="plain2",
        epochs=1,
        teacher_epochs=1,
        batch_size=256,
        optimizer="adam",
        learning_rate=0.01,
        validation_fraction=0.1,
        verbose=0,
        output_dir=str(tmp_path / "unused"),
    )
    if method == "takd":
        settings["assistants"] = ("plain2",)
    if method == "gskd":
        settings["stages"] = ("plain2",)
    settings.update(changes)
    return TrainConfig(**settings).validate()


def options(tmp_path, **changes):
    return tune.TuneOptions(**dict(dict(tune_dir=str(tmp_path / "tune"), max_trials=2), **changes))


# --- the search space ------------------------------------------------------------------------------------------


# The methods built on baseline KD's loss, weighed by alpha at a temperature.
BLKD_FAMILY = ("blkd", "takd", "rekd", "dekd", "tfkd_self", "tfkd_reg", "wskd", "gskd")


@pytest.mark.parametrize("method", [m for m in METHODS if m != "nokd"])
def test_search_space_holds_temperature_alpha_and_the_methods_own_knobs(tmp_path, method):
    config = tiny(tmp_path, method)
    space = tune.search_space(config, options(tmp_path).validate(config), MNIST)
    names = [hp.name for hp in space.space]
    assert names == list(methods.get(method).knobs)
    if method in BLKD_FAMILY:
        assert {"temperature", "alpha"} <= set(names)
    own = {
        "wskd": {"wskd_margin", "wskd_correction", "wskd_beta"},
        "gskd": {"gskd_gamma"},
        "takd": {"assistants"},
        "tfkd_reg": {"tfkd_correct_prob"},
        "dkd": {"temperature", "dkd_alpha", "dkd_beta"},
        "dist": {"temperature", "dist_inter_weight", "dist_intra_weight"},
        "fitnets": {"fitnets_hint_weight"},
    }
    assert own.get(method, set()) <= set(names)


def test_wskd_margin_is_searched_only_with_the_lift_correction(tmp_path):
    config = tiny(tmp_path, "wskd")
    space = tune.search_space(config, options(tmp_path).validate(config), MNIST)
    margin = space.get_config()["space"][[hp.name for hp in space.space].index("wskd_margin")]
    assert margin["config"]["conditions"][0]["config"] == {"name": "wskd_correction", "values": ["lift"]}
    beta = next(hp for hp in space.space if hp.name == "wskd_beta")
    assert (beta.min_value, beta.max_value) == (0.0, 1.0)


def test_takd_assistants_are_chosen_from_architectures_between_student_and_teacher(tmp_path):
    config = tiny(tmp_path, "takd", teacher="resnet20", student="resnet8", assistants=("resnet14",))
    space = tune.search_space(config, options(tmp_path).validate(config), MNIST)
    assert space.space[-1].name == "assistants" and space.space[-1].values == ["resnet14"]
    given = options(tmp_path, assistant_choices=("resnet14", "resnet20,resnet14")).validate(config)
    assert tune.search_space(config, given, MNIST).space[-1].values == ["resnet14", "resnet20,resnet14"]


def test_knobs_restricts_the_search_and_the_rest_keep_their_flag_values(tmp_path):
    config = tiny(tmp_path, "wskd", wskd_correction="swap")
    space = tune.search_space(config, options(tmp_path, knobs=("wskd_beta",)).validate(config), MNIST)
    assert [hp.name for hp in space.space] == ["wskd_beta"]
    trial = tune.trial_config(config, {"wskd_beta": 0.25}, "elsewhere")
    assert (trial.wskd_beta, trial.wskd_correction, trial.temperature, trial.output_dir) == (
        0.25,
        "swap",
        4.0,
        "elsewhere",
    )
    with pytest.raises(UsageError, match="wskd_margin acts only with --wskd_correction=lift"):
        tune.search_space(config, options(tmp_path, knobs=("wskd_margin",)).validate(config), MNIST)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, knobs, message",
    [
        (dict(validation_fraction=0.0), (), "--validation_fraction=0.0: a search is scored on a validation split"),
        (dict(method="nokd"), (), "--method=nokd: no distillation knobs"),
        ({}, ("wskd_beta",), "--knobs: 'wskd_beta' is not a knob of blkd"),
        (
            dict(method="tfkd_reg", teacher_checkpoint="t.keras"),
            (),
            "--teacher_checkpoint: tfkd_reg does not learn from --teacher",
        ),
    ],
)
def test_bad_settings_are_one_usage_error(tmp_path, changes, knobs, message):
    config = dataclasses.replace(tiny(tmp_path), **changes)
    with pytest.raises(UsageError) as error:
        options(tmp_path, knobs=knobs).validate(config)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_tune_dir_holding_another_search_is_refused(tmp_path):
    config = tiny(tmp_path)
    tune.Search(config, options(tmp_path).validate(config)).check_directory()
    tune.Search(config, options(tmp_path, max_trials=5).validate(config)).check_directory()  # may grow
    other = dataclasses.replace(config, student="plain4")
    with pytest.raises(UsageError, match=r"holds a search with other settings \(--student differ\)"):
        tune.Search(other, options(tmp_path).validate(other)).check_directory()
    with pytest.raises(UsageError, match=r"\(--tuner, "):
        tune.Search(config, options(tmp_path, tuner="hyperband").validate(config)).check_directory()


def test_a_search_knows_its_teacher_checkpoint_by_content_not_path(tmp_path):
    first, moved = tmp_path / "teacher.keras", tmp_path / "moved.keras"
    first.write_bytes(b"a teacher")
    moved.write_bytes(b"a teacher")
    config = dataclasses.replace(tiny(tmp_path), teacher_checkpoint=str(first))
    tune.Search(config, options(tmp_path).validate(config)).check_directory()
    same = dataclasses.replace(config, teacher_checkpoint=str(moved))
    tune.Search(same, options(tmp_path).validate(same)).check_directory()  # the same file elsewhere resumes
    moved.write_bytes(b"another teacher")
    with pytest.raises(UsageError, match=r"\(--teacher_checkpoint_sha256 differ\)"):
        tune.Search(same, options(tmp_path).validate(same)).check_directory()


def _run_tune(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "kdkeras.tune", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tuner=grid"], "error: flag --tuner=grid: value should be one of <random|bayesian|hyperband>"),
        (["--method=wskd", "--validation_fraction=0"], "error: --validation_fraction=0.0: a search is scored"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, args, message):
    result = _run_tune(*args, f"--tune_dir={tmp_path / 'tune'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert not os.path.exists(tmp_path / "tune")


# --- shipped flagfiles -----------------------------------------------------------------------------------------


TUNE_FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "configs", "tune", "*.flags")))


def test_every_kd_method_has_a_tune_flagfile():
    names = {os.path.basename(p)[: -len(".flags")] for p in TUNE_FLAGFILES}
    assert {"blkd", "takd", "dekd", "tfkd_self", "tfkd_reg", "wskd", "gskd"} <= names


@pytest.mark.parametrize("flagfile", TUNE_FLAGFILES, ids=os.path.basename)
def test_tune_flagfile_is_valid(flagfile):
    lines = [line.split("=")[0] for line in open(flagfile) if line.startswith("--") and "assistant_choices" not in line]
    assert len(lines) == len(set(lines)), f"{flagfile} sets a flag twice"
    tune.FLAGS.unparse_flags()
    try:
        tune.FLAGS(["kdkeras.tune", f"--flagfile={flagfile}"])
        config, opts = tune.from_flags(tune.FLAGS)
    finally:
        tune.FLAGS.unparse_flags()
    assert os.path.basename(flagfile) == f"{config.method}.flags"
    assert config.validation_fraction > 0 and opts.tune_dir == f"runs/tune/{config.method}"


def test_a_trials_run_shares_the_searchs_teacher_and_uses_no_model_store(tmp_path):
    # In a search a record's "test accuracy" is the validation accuracy: no store may hand it to a run.
    import types

    config = tiny(tmp_path, "blkd", model_store=str(tmp_path / "store"))
    search = tune.Search(config, options(tmp_path).validate(config))
    search.splits = types.SimpleNamespace(info=MNIST, validation=None)
    shared = object()
    run = search.run_in(config, teacher=shared)
    assert run.store.directory is None and run.config.model_store is None
    assert run.teacher() is shared and run.train_plain("teacher", "plain2", 1) is shared
    assert run.records == [] and run.models == {}
    assert search.run_in(config).shared_teacher is None
    assert search.best_config(types.SimpleNamespace(hyperparameters=_Values({}))).model_store == config.model_store


class _Values:
    """Stands for a trial's keras-tuner hyperparameters."""

    def __init__(self, values):
        self.values = values

    def is_active(self, name):
        return True


# --- a tiny search ---------------------------------------------------------------------------------------------


class _Forbidden:
    """Stands for the test split during a search: any use of it fails."""

    def __iter__(self):
        raise AssertionError("the search read the test split")

    def __getattr__(self, name):
        raise AssertionError(f"the search used the test split (.{name})")


def _completed(payload):
    return [t for t in payload["trials"] if t["status"] == "COMPLETED"]


@pytest.mark.slow  # a minute of end-to-end training: in `pytest -m slow`
def test_interrupted_search_resumes_never_reads_the_test_split_and_its_best_flags_train(tmp_path, monkeypatch):
    from kdkeras import config as train_config
    from kdkeras import data, experiment
    from kdkeras import train as kdtrain
    from kdkeras.pipelines import records

    config = tiny(tmp_path, "blkd")
    opts = options(tmp_path, max_trials=2).validate(config)
    seen = {"validation": [], "scored": [], "trials": []}

    with monkeypatch.context() as patch:
        real_load, real_accuracy, real_trial = data.load, records.accuracy, tune.Search.run_trial

        def load(*args, **kwargs):
            splits = real_load(*args, **kwargs)
            seen["validation"].append(splits.validation)
            return dataclasses.replace(splits, test=_Forbidden())

        def accuracy(model, dataset):
            seen["scored"].append(dataset)
            return real_accuracy(model, dataset)

        def interrupted(self, trial):
            seen["trials"].append((trial.trial_id, dict(trial.hyperparameters.values)))
            if trial.trial_id == "1" and len(seen["trials"]) == 2:
                raise KeyboardInterrupt  # as Ctrl-C in the second trial
            return real_trial(self, trial)

        patch.setattr(data, "load", load)
        patch.setattr(records, "accuracy", accuracy)
        patch.setattr(tune.Search, "run_trial", interrupted)

        with pytest.raises(KeyboardInterrupt):
            tune.tune(config, opts)
        first = json.load(open(tmp_path / "tune" / "best.json"))
        assert [t["trial_id"] for t in _completed(first)] == ["0"]

        payload = tune.tune(config, opts)  # the same command again: resumes

    # Trial 0 was not repeated; the interrupted trial 1 ran again with the same values.
    assert [t[0] for t in seen["trials"]] == ["0", "1", "1"]
    assert seen["trials"][1][1] == seen["trials"][2][1]
    assert [t["trial_id"] for t in _completed(payload)] == ["0", "1"]
    assert payload["best"]["val_accuracy"] == max(t["val_accuracy"] for t in _completed(payload))
    assert 0.0 < payload["best"]["val_accuracy"] <= 1.0
    # Every accuracy of the search (teacher, trial students) was on the validation split.
    assert seen["scored"] and all(any(d is v for v in seen["validation"]) for d in seen["scored"])
    # The teacher was trained once and shared.
    assert os.path.exists(tmp_path / "tune" / "teacher" / "teacher.keras")
    assert not glob.glob(str(tmp_path / "tune" / "trials" / "*" / "teacher.keras"))

    # best.flags: only kdkeras.train flags, all of them, the best values; it trains as it is.
    path = str(tmp_path / "tune" / "best.flags")
    names = [line.strip()[2:].split("=")[0] for line in open(path) if line.startswith("--")]
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    bare = [n[2:] if n.startswith("no") and n[2:] in fields else n for n in names]
    assert set(bare) <= set(fields) and len(bare) == len(set(bare))
    left_unset = {"data_dir", "defective_teacher_accuracy", "tpu", "teacher_cache_dir", "model_store"}  # None
    left_unset |= {"fitnets_student_layer", "fitnets_teacher_layer"}  # None: fitnets picks its default layers
    assert set(fields) - set(bare) == left_unset
    kdtrain.FLAGS.unparse_flags()
    try:
        kdtrain.FLAGS(["kdkeras.train", f"--flagfile={path}"])
        best = train_config.from_flags(kdtrain.FLAGS).validate()
    finally:
        kdtrain.FLAGS.unparse_flags()
    assert best.temperature == payload["best"]["values"]["temperature"]
    assert best.alpha == payload["best"]["values"]["alpha"]
    assert best.validation_fraction == 0.1 and best.output_dir == str(tmp_path / "tune" / "best")
    assert best.teacher_checkpoint == str(tmp_path / "tune" / "teacher" / "teacher.keras")
    results = experiment.train(best)
    assert results["student"]["test_accuracy"] > 0.0
    assert os.path.exists(tmp_path / "tune" / "best" / "results.json")


@pytest.mark.slow
@pytest.mark.parametrize(
    "tuner, method", [("bayesian", "wskd"), ("hyperband", "gskd"), ("random", "takd"), ("random", "tfkd_self")]
)
def test_other_tuners_and_methods_finish(tmp_path, tuner, method):
    if tuner == "bayesian":
        pytest.importorskip("sklearn", reason="keras-tuner's Bayesian optimisation needs scikit-learn")
    config = tiny(tmp_path, method, epochs=2 if tuner == "hyperband" else 1)
    payload = tune.tune(config, options(tmp_path, tuner=tuner, max_trials=2).validate(config))
    assert len(_completed(payload)) == 2
    assert set(payload["best"]["values"]) <= set(methods.get(method).knobs)
