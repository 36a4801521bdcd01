"""The layers read top-down: configuration imports no TensorFlow and no pipeline, errors are leaves,
and only command drivers import the CLI module."""

import ast
import glob
import os
import sys

import pytest

from tests.conftest import ROOT

CONFIGURATION = ["kdkeras/config.py", "kdkeras/settings.py", "kdkeras/ranges.py", "kdkeras/backup_interval.py"] + [
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "kdkeras", "methods", "*.py"))
]
CONFIGURATION_MAY_IMPORT = (
    "kdkeras.errors",
    "kdkeras.ranges",
    "kdkeras.settings",
    "kdkeras.methods",
    "kdkeras.backup_interval",
)


def _imports(path, top_level_only):
    """The modules a file imports (`from kdkeras import x` as `kdkeras.x`), at its top level or anywhere."""
    tree = ast.parse(open(os.path.join(ROOT, path)).read())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in ("kdkeras", "edge"):  # `from kdkeras import x` imports the module kdkeras.x
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def _is_library(name):
    return name.split(".")[0] not in sys.stdlib_module_names


@pytest.mark.parametrize("path", [p for p in CONFIGURATION if not p.endswith("_test.py")])
def test_configuration_imports_only_configuration(path):
    outside = [
        name
        for name in _imports(path, top_level_only=True)
        if _is_library(name) and not name.startswith(CONFIGURATION_MAY_IMPORT)
    ]
    assert not outside, f"{path} imports {outside} when it is imported"


def test_errors_are_leaves():
    assert not [n for n in _imports("kdkeras/errors.py", top_level_only=False) if n.startswith(("kdkeras", "edge"))]


def test_only_command_drivers_import_the_cli():
    sources = glob.glob(os.path.join(ROOT, "kdkeras", "**", "*.py"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "edge", "*.py")) + glob.glob(os.path.join(ROOT, "tools", "*.py"))
    for source in sources:
        path = os.path.relpath(source, ROOT)
        if path.endswith("_test.py") or path == "kdkeras/cli.py":
            continue
        if {"kdkeras.cli", "kdkeras.cli.naming_flag"} & _imports(path, top_level_only=False):
            text = open(source).read()
            assert "def main(" in text, f"{path} imports kdkeras.cli but is no command (it has no main)"
