"""Whether a student fits a microcontroller's RAM and flash.

A board is chosen by its RAM and flash; the figures to hold against them
are TFLM's arena (RAM for every tensor and kernel state) and the model's
bytes (which stay in flash). Neither counts the firmware's own code, stack
or buffers, so a student that fits with no headroom does not fit a real
application.
"""

from kdkeras import errors


def mcu_budget(arena_bytes, flash_bytes, mcu_ram_bytes=None, mcu_flash_bytes=None):
    """Holds a student's arena and flash bytes against a board's RAM and flash (`None`: not checked).

    The budgets take the names of `edge.benchmark_tflite`'s arguments and
    the commands' flags, which the error message names.

    Args:
        arena_bytes: TFLM's arena for the model (`edge.tflm_footprint`).
        flash_bytes: the model's bytes.
        mcu_ram_bytes: the board's RAM, held against the arena.
        mcu_flash_bytes: the board's flash, held against the model's bytes.

    Example:

    ```python
    budget = edge.mcu_budget(44_432, 96_048, mcu_ram_bytes=256 * 1024)
    budget["fits"], budget["fits_flash"]  # (True, None)
    ```

    Returns:
        A dict: `arena_bytes`, `flash_bytes`, the budgets as
        `ram_budget_bytes` and `flash_budget_bytes`, `fits_ram`,
        `fits_flash` (`None` where no budget was given) and `fits` (every
        given budget holds).

    Raises:
        kdkeras.errors.UsageError: a budget that is not a positive number of bytes.
    """
    for flag, value in (("--mcu_ram_bytes", mcu_ram_bytes), ("--mcu_flash_bytes", mcu_flash_bytes)):
        errors.check(value is None or value >= 1, f"{flag}={value}: expected a positive number of bytes")
    fits_ram = None if mcu_ram_bytes is None else arena_bytes <= mcu_ram_bytes
    fits_flash = None if mcu_flash_bytes is None else flash_bytes <= mcu_flash_bytes
    return {
        "arena_bytes": int(arena_bytes),
        "ram_budget_bytes": mcu_ram_bytes,
        "fits_ram": fits_ram,
        "flash_bytes": int(flash_bytes),
        "flash_budget_bytes": mcu_flash_bytes,
        "fits_flash": fits_flash,
        "fits": fits_ram is not False and fits_flash is not False,
    }


def budget_line(budget, name):
    """One line saying whether `name` fits, with the arena and flash figures against their budgets."""

    def part(kind, used, limit, fits):
        if limit is None:
            return f"{kind} {used:,} bytes (no budget)"
        verdict = "fits" if fits else f"over by {used - limit:,}"
        return f"{kind} {used:,} of {limit:,} bytes ({verdict})"

    verdict = "fits" if budget["fits"] else "does NOT fit"
    return (
        f"{name} {verdict} the microcontroller: "
        f"{part('RAM (TFLM arena)', budget['arena_bytes'], budget['ram_budget_bytes'], budget['fits_ram'])}, "
        f"{part('flash (model)', budget['flash_bytes'], budget['flash_budget_bytes'], budget['fits_flash'])}"
    )
