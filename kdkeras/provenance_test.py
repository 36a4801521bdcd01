import shutil
import subprocess

import pytest

from kdkeras import provenance


def test_describe_names_the_commit_versions_and_machine():
    import keras
    import tensorflow as tf

    found = provenance.describe()
    assert found["kdkeras_commit"] == provenance.LIBRARY_COMMIT
    assert (found["tensorflow"], found["keras"]) == (tf.__version__, keras.__version__)
    assert found["cpu"] and found["logical_cpus"] >= 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_only_changes_to_the_code_mark_the_commit(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    (tmp_path / "kdkeras").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "kdkeras" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "results.md").write_text("table\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    commit = git("rev-parse", "--short", "HEAD")

    assert provenance.read_commit(str(tmp_path)) == commit
    (tmp_path / "results" / "results.md").write_text("a newer table\n")
    assert provenance.read_commit(str(tmp_path)) == commit  # results written beside the code are not code
    (tmp_path / "kdkeras" / "code.py").write_text("x = 2\n")
    assert provenance.read_commit(str(tmp_path)) == commit + " (with uncommitted changes)"


def test_outside_a_git_checkout_the_version_is_named(tmp_path):
    assert provenance.read_commit(str(tmp_path)).endswith("(not a git checkout)")


def test_a_resumed_model_names_the_earlier_commits_and_this_one(monkeypatch):
    monkeypatch.setattr(provenance, "LIBRARY_COMMIT", "bbbbbbb")
    assert provenance.with_this_commit(None) == "bbbbbbb"
    assert provenance.with_this_commit("ccccccc, aaaaaaa") == "aaaaaaa, bbbbbbb, ccccccc"
    assert provenance.with_this_commit("bbbbbbb") == "bbbbbbb"
