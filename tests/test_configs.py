"""Every shipped flagfile parses and validates, and sets each flag once."""

import glob
import os

import pytest

from kdkeras.config import from_flags as config_from_flags
from kdkeras.train import FLAGS
from tests.conftest import ROOT

FLAGFILES = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "configs", "**", "*.flags"), recursive=True)
    if os.sep + "tune" + os.sep not in p and os.sep + "compare" + os.sep not in p
)


def test_every_method_has_a_sample_and_research_config():
    from kdkeras.config import METHODS

    for method in METHODS:
        for folder in ("configs", "configs/cifar10", "configs/cifar100"):
            assert os.path.join(folder, f"{method}.flags") in FLAGFILES


@pytest.mark.parametrize("flagfile", FLAGFILES)
def test_flagfile_is_valid(flagfile):
    names = [line.split("=")[0] for line in open(os.path.join(ROOT, flagfile)) if line.startswith("--")]
    assert len(names) == len(set(names)), f"{flagfile} sets a flag twice"
    FLAGS.unparse_flags()
    FLAGS(["kdkeras.train", f"--flagfile={os.path.join(ROOT, flagfile)}"])
    config = config_from_flags(FLAGS).validate()
    folders = flagfile.split(os.sep)[1:-1]
    if {"study", "edge"} & set(folders):  # a study's or a recipe's own models, named by what they are
        assert (config.dataset.startswith("imagefolder:") or config.dataset == "mnist") and config.augment
        FLAGS.unparse_flags()
        return
    assert os.path.basename(flagfile) == f"{config.method}.flags"
    if "cifar" in flagfile:
        assert config.augment and config.optimizer == "sgd" and config.dataset in flagfile
    elif "mnist" in folders:
        assert config.augment and config.optimizer == "sgd" and config.dataset == "mnist" and config.epochs == 10
    else:
        assert config.dataset == "mnist_sample"
    FLAGS.unparse_flags()


COMPARE_FLAGFILES = sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "configs", "compare", "*.flags"))
)


@pytest.mark.parametrize("flagfile", COMPARE_FLAGFILES)
def test_comparison_flagfile_plans_valid_runs(flagfile):
    from kdkeras.study import plan as study_plan

    if "methods" not in FLAGS:
        study_plan.define_flags()
    FLAGS.unparse_flags()
    cwd = os.getcwd()
    os.chdir(ROOT)  # flagfiles name nested flagfiles relative to the project
    try:
        FLAGS(["tools/compare.py", f"--flagfile={flagfile}"])
        plan = study_plan.plan_from_flags(FLAGS)  # validates every run's settings
    finally:
        os.chdir(cwd)
        FLAGS.unparse_flags()
    assert plan.pairs() and all(name in plan.all_methods for name, _ in plan.pairs())
