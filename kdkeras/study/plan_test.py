import dataclasses
import json
import os
import types

import pytest

from kdkeras import methods
from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError
from kdkeras.study import plan as study_plan


def make_plan(tmp_path, **changes):
    settings = dict(
        recipe=TrainConfig(teacher="resnet20", student="resnet8", epochs=3, teacher_epochs=4),
        methods=["nokd", "blkd", "dekd", "wskd"],
        seeds=[0, 1],
        extra_methods=["wskd_batch"],
        extra_seeds=[0],
        variants={"wskd_batch": ("wskd", {"wskd_step2_reduction": "batch"})},
        output_dir=str(tmp_path / "runs"),
        edge="off",
        study_settings={"dekd_teacher_epochs": 1},
        results_dir=str(tmp_path / "results"),
    )
    settings.update(changes)
    return study_plan.Plan(**settings)


def test_the_methods_own_their_study_flags():
    flags = {flag.name: flag for flag in study_plan.study_flags()}
    assert set(flags) == set(methods.study_flags())
    assert flags["dekd_teacher_epochs"].replaces == "teacher_epochs"


def test_runs_share_a_teacher_per_seed_and_a_study_flag_changes_only_its_method(tmp_path):
    plan = make_plan(tmp_path)
    runs = plan.runs()
    assert [label for label, *_ in runs] == [
        "nokd seed 0",
        "shared teacher (resnet20) seed 0",
        "blkd seed 0",
        "dekd seed 0",
        "wskd seed 0",
        "nokd seed 1",
        "shared teacher (resnet20) seed 1",
        "blkd seed 1",
        "dekd seed 1",
        "wskd seed 1",
        "wskd_batch seed 0",
    ]
    configs = {(name, seed): config for _, name, seed, config in runs}
    teacher = configs[(None, 1)]
    assert (teacher.method, teacher.student, teacher.epochs, teacher.seed) == ("nokd", "resnet20", 4, 1)
    checkpoint = os.path.abspath(os.path.join(plan.output_dir, "teacher", "seed1", "student.keras"))
    assert configs[("blkd", 1)].teacher_checkpoint == checkpoint
    assert configs[("nokd", 1)].teacher_checkpoint is None and configs[("dekd", 1)].teacher_checkpoint is None
    assert configs[("dekd", 0)].teacher_epochs == 1  # --dekd_teacher_epochs, De-KD's own
    assert configs[("blkd", 0)].teacher_epochs == 4 and configs[("wskd", 0)].teacher_epochs == 4
    batch = configs[("wskd_batch", 0)]
    assert (batch.method, batch.wskd_step2_reduction, batch.output_dir) == (
        "wskd",
        "batch",
        os.path.join(plan.output_dir, "wskd_batch", "seed0"),
    )
    assert len({config.model_store for config in configs.values()}) == 1
    assert make_plan(tmp_path, study_settings={"dekd_teacher_epochs": 0}).method_config("dekd", 0).teacher_epochs == 4


def test_each_method_is_compared_with_the_method_its_unit_names(tmp_path):
    plan = make_plan(tmp_path)
    assert plan.baseline == "blkd" and plan.labels_only == "nokd"
    assert plan.compared_with("blkd") is None
    assert plan.compared_with("wskd") == "blkd" and plan.compared_with("wskd_batch") == "blkd"
    assert plan.compared_with("nokd") == "blkd"  # no comparison of its own: shown against the baseline


def test_with_a_teacher_checkpoint_no_teacher_is_trained_and_records_go_beside_the_report(tmp_path):
    plan = make_plan(tmp_path, recipe=TrainConfig(teacher_checkpoint="t/student.keras", epochs=3))
    assert not plan.trains_shared_teacher
    assert all(name is not None for _, name, _, _ in plan.runs())
    records = tmp_path / "results" / "records"
    assert plan.keeps_records and plan.records_dir("wskd", 1) == str(records / "wskd" / "seed1")
    assert plan.records_dir(None, 0) == str(records / "teacher" / "seed0")
    assert not make_plan(tmp_path, results_dir=str(tmp_path / "runs")).keeps_records


def test_run_only_trains_part_of_the_study_with_the_teacher_it_needs(tmp_path):
    plan = make_plan(tmp_path)
    picked = study_plan.parse_run_only(["wskd", "wskd_batch@0", "nokd@1"], plan)
    assert picked == (("wskd", None), ("wskd_batch", 0), ("nokd", 1))
    part = dataclasses.replace(plan, run_only=picked)
    assert [label for label, *_ in part.runs_to_train()] == [
        "shared teacher (resnet20) seed 0",
        "wskd seed 0",
        "nokd seed 1",
        "shared teacher (resnet20) seed 1",
        "wskd seed 1",
        "wskd_batch seed 0",
    ]
    assert part.runs() == plan.runs() and part.pairs() == plan.pairs()  # the report's study stays whole
    assert plan.runs_to_train() == plan.runs()
    assert [label for label, *_ in dataclasses.replace(plan, run_only=(("nokd", None),)).runs_to_train()] == [
        "nokd seed 0",
        "nokd seed 1",
    ]
    for bad, message in (("dkd", "not in the study"), ("wskd_batch@1", "does not run"), ("wskd@x", "NAME@SEED")):
        with pytest.raises(UsageError, match=f"--run_only={bad}: .*{message}"):
            study_plan.parse_run_only([bad], plan)


def test_variants_take_typed_settings_and_refuse_bad_ones():
    variants = study_plan.parse_variants(["a:wskd:wskd_margin=2;wskd_second_update=false", "b:takd:assistants=x,y"])
    assert variants == {
        "a": ("wskd", {"wskd_margin": 2.0, "wskd_second_update": False}),
        "b": ("takd", {"assistants": ("x", "y")}),
    }
    for bad in ("a:wskd", "blkd:wskd:alpha=0.5", "teacher:wskd:alpha=0.5", "a:kd:alpha=0.5", "a:wskd:seed=1"):
        with pytest.raises(UsageError, match="--variant="):
            study_plan.parse_variants([bad])
    with pytest.raises(UsageError, match="is not a float"):
        study_plan.parse_variants(["a:wskd:wskd_margin=high"])


def test_seeds_and_references_are_checked():
    assert study_plan.parse_seeds("3", 0) == [0, 1, 2] and study_plan.parse_seeds("4,7", 0) == [4, 7]
    assert study_plan.parse_reference(["teacher=86.35", "nokd=80.56"], ["nokd"]) == pytest.approx(
        {"teacher": 0.8635, "nokd": 0.8056}
    )
    with pytest.raises(UsageError, match="--reference=blkd=80"):
        study_plan.parse_reference(["blkd=80"], ["nokd"])


def test_the_reference_is_the_peer_file_for_the_studys_names_or_the_typed_one(tmp_path):
    path = tmp_path / "peer.json"
    values = types.SimpleNamespace(peer=str(path), reference=[], reference_source="")
    assert study_plan._reference(values, ["nokd", "blkd"]) == ({}, "", None)  # not run yet: no reference
    path.write_text(json.dumps({"source": "torch", "accuracy": {"teacher": 0.86, "nokd": 0.8, "dkd": 0.7}}))
    reference, source, peer = study_plan._reference(values, ["nokd", "blkd"])
    assert reference == {"teacher": 0.86, "nokd": 0.8} and source == "torch" and peer["accuracy"]["dkd"] == 0.7
    typed = types.SimpleNamespace(peer="", reference=["nokd=80"], reference_source="a paper")
    assert study_plan._reference(typed, ["nokd"]) == ({"nokd": 0.8}, "a paper", None)
    with pytest.raises(UsageError, match="--peer and --reference"):
        study_plan._reference(types.SimpleNamespace(peer=str(path), reference=["nokd=80"]), ["nokd"])


def test_differences_name_two_different_rows_of_the_study():
    assert study_plan.parse_differences(["dist:blkd", " wskd : blkd "], ["blkd", "wskd", "dist"]) == [
        ("dist", "blkd"),
        ("wskd", "blkd"),
    ]
    for bad in ("dist", "dist:dkd", "blkd:blkd", ":blkd"):
        with pytest.raises(UsageError, match=f"--differences={bad}: expected A:B"):
            study_plan.parse_differences([bad], ["blkd", "wskd", "dist"])
