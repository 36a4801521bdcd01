"""Budgets: arena against RAM, model bytes against flash."""

import pytest

from edge.budget import budget_line, mcu_budget
from kdkeras.errors import UsageError


def test_fits_only_when_every_given_budget_holds():
    assert mcu_budget(44_416, 92_736, 256 * 1024, 1024 * 1024)["fits"] is True
    over_ram = mcu_budget(44_416, 92_736, 40_000, 1024 * 1024)
    assert (over_ram["fits_ram"], over_ram["fits_flash"], over_ram["fits"]) == (False, True, False)
    exact = mcu_budget(44_416, 92_736, 44_416, 92_736)
    assert exact["fits"] is True
    flash_only = mcu_budget(44_416, 92_736, mcu_flash_bytes=92_735)
    assert (flash_only["fits_ram"], flash_only["fits_flash"], flash_only["fits"]) == (None, False, False)


def test_the_line_gives_both_figures_and_the_overshoot():
    line = budget_line(mcu_budget(44_416, 92_736, 40_000, 1_000_000), "student.tflite")
    assert line.startswith("student.tflite does NOT fit")
    assert "44,416 of 40,000 bytes (over by 4,416)" in line and "92,736 of 1,000,000 bytes (fits)" in line
    assert "\n" not in line


def test_a_budget_must_be_positive():
    with pytest.raises(UsageError, match="--mcu_flash_bytes=0"):
        mcu_budget(1, 1, mcu_ram_bytes=10, mcu_flash_bytes=0)
