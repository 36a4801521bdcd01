"""What produced a result: the library's commit, the machine and the versions.

Every `results.json` carries it, so a study that runs for days, across
sessions and commits, can say which code trained each of its runs: its
`kdkeras_commit` names the commits that trained the run's models (each
model's record keeps its own, so a run started again after it finished, or
a model reused from a model store, keeps naming the code that trained it;
a model resumed from a backup names the commits before it too),
and `written_by_commit` the process that wrote the file.

The commit is read once, when this module is imported (as a run starts):
a checkout changed while a long run goes on does not change what the run
reports, since the code it runs was loaded at start.
"""

import os
import platform
import subprocess

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What "uncommitted changes" means: changes to the code, not to results or runs written beside it.
CODE_PATHS = ("kdkeras", "edge", "tools", "setup.cfg", "setup.py")


def read_commit(root=PACKAGE_ROOT):
    """`root`'s short commit, marked when its code (`CODE_PATHS`) has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        from kdkeras import __version__

        return f"kdkeras {__version__} (not a git checkout)"
    return commit + (" (with uncommitted changes)" if dirty.strip() else "")


LIBRARY_COMMIT = read_commit()


# The vector extensions that decide CPU training speed, as /proc/cpuinfo names them.
VECTOR_EXTENSIONS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_bf16",
    "amx_tile",
)


def cpu_description():
    """`(model name, [vector extensions of VECTOR_EXTENSIONS it has])`, from /proc/cpuinfo where there is one."""
    name, found = None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name is None:
                    name = value.strip()
                elif key.strip() == "flags" and found is None:
                    have = set(value.split())
                    found = [v for v in VECTOR_EXTENSIONS if v in have]
    except OSError:
        pass
    return name or platform.processor() or "unknown", found or []


def cpu_model():
    """The CPU's model name."""
    return cpu_description()[0]


def describe():
    """`{"kdkeras_commit", "tensorflow", "keras", "python", "cpu", "logical_cpus"}` of this process."""
    import keras
    import tensorflow as tf

    return {
        "kdkeras_commit": LIBRARY_COMMIT,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
    }


def join_commits(commits):
    """Several commits as `results.json`'s `kdkeras_commit` holds them: one string, sorted, comma-separated."""
    return ", ".join(sorted(set(commits)))


def split_commits(text):
    """The commits of a `kdkeras_commit` string (`join_commits`'s inverse)."""
    return text.split(", ")


def with_this_commit(earlier=None):
    """The `kdkeras_commit` string of a model trained by `earlier` (such a string, or None) and by this process."""
    return join_commits([*(split_commits(earlier) if earlier else []), LIBRARY_COMMIT])
