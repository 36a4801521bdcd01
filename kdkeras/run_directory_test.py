import hashlib
import shutil

import pytest

from kdkeras.config import TrainConfig
from kdkeras.errors import UsageError
from kdkeras.run_directory import by_content, check_settings


def settings_for(checkpoint, tmp_path):
    """What a run records, as `kdkeras.experiment.train` makes it."""
    return by_content(TrainConfig(teacher_checkpoint=str(checkpoint), output_dir=str(tmp_path / "out")).semantic_dict())


def test_a_teacher_checkpoint_is_recorded_by_content_not_path(tmp_path):
    first = tmp_path / "a" / "teacher.keras"
    first.parent.mkdir()
    first.write_bytes(b"the same teacher")
    moved = tmp_path / "b" / "elsewhere.keras"
    moved.parent.mkdir()
    shutil.copy(first, moved)
    run_dir = str(tmp_path / "run")

    ours = settings_for(first, tmp_path)
    assert "teacher_checkpoint" not in ours
    assert ours["teacher_checkpoint_sha256"] == hashlib.sha256(b"the same teacher").hexdigest()
    check_settings(run_dir, ours)
    check_settings(run_dir, settings_for(moved, tmp_path))  # moved: the same run goes on

    moved.write_bytes(b"another teacher")
    with pytest.raises(UsageError, match=r"\(--teacher_checkpoint_sha256 differ\)"):
        check_settings(run_dir, settings_for(moved, tmp_path))


def test_a_missing_teacher_checkpoint_keeps_its_path_for_the_loaders_error(tmp_path):
    settings = settings_for(tmp_path / "missing.keras", tmp_path)
    assert settings["teacher_checkpoint"] == str(tmp_path / "missing.keras")
    assert "teacher_checkpoint_sha256" not in settings


def test_the_settings_given_are_not_changed(tmp_path):
    checkpoint = tmp_path / "t.keras"
    checkpoint.write_bytes(b"t")
    given = {"teacher_checkpoint": str(checkpoint), "student": "resnet8"}
    by_content(given)
    assert given == {"teacher_checkpoint": str(checkpoint), "student": "resnet8"}


def test_settings_the_run_does_not_read_do_not_refuse_it(tmp_path):
    from kdkeras import methods

    run_dir = str(tmp_path / "run")
    blkd = TrainConfig(method="blkd", output_dir=str(tmp_path / "out"))
    unread = methods.unread_settings("blkd")
    check_settings(run_dir, by_content(blkd.semantic_dict()), ignored=unread)

    # Another method's default changed since (a newer kdkeras): the BLKD run goes on, and records the new value.
    other = by_content(TrainConfig(method="blkd", output_dir=str(tmp_path / "out"), dkd_beta=2.0).semantic_dict())
    check_settings(run_dir, other, ignored=unread)
    # Its own settings still count.
    changed = by_content(TrainConfig(method="blkd", output_dir=str(tmp_path / "out"), temperature=2.0).semantic_dict())
    with pytest.raises(UsageError, match=r"\(--temperature differ\)"):
        check_settings(run_dir, changed, ignored=unread)
