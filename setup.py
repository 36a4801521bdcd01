"""Packaging is in setup.cfg; this file only keeps tests and their helpers out of the wheel."""

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithoutTests(build_py):
    """Leaves `*_test.py` and `conftest.py` (tests beside their modules) out of built packages."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (m[1].endswith("_test") or m[1] == "conftest")]


setup(cmdclass={"build_py": BuildPyWithoutTests})
