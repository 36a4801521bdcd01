"""What every kdkeras command shares: one clear line, never a traceback.

Exit status 2 on bad input, 1 on a run that cannot go on, 130 on Ctrl-C.
"""

import contextlib
import functools
import sys

from absl import flags

from kdkeras.errors import DatasetError, TrainingError, UsageError

USAGE_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
RESUME_HINT = "run the same command again to go on from its last backup"


@contextlib.contextmanager
def naming_flag(flag, value, errors=(DatasetError,)):
    """Prefixes a library's error about `value` with the flag the user gave it as.

    Library functions (`kdkeras.data.load`, ...) word their errors for any
    caller; a command knows which of its flags the value came from.
    """
    try:
        yield
    except errors as error:
        raise UsageError(f"{flag}={value}: {error}") from None


def run(main=None, *, on_interrupt=None):
    """Wraps an absl `main(argv)`: user errors become one line and exit 2,
    a run that cannot go on one line and exit 1, Ctrl-C one line and exit 130.

    Use as `@cli.run`, or `@cli.run(on_interrupt=cli.RESUME_HINT)` for a
    command that resumes when run again, so that Ctrl-C says how.
    """
    if main is None:
        return functools.partial(run, on_interrupt=on_interrupt)

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        except TrainingError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(FAILURE_EXIT_CODE)
        except KeyboardInterrupt:
            hint = f"; {on_interrupt}" if on_interrupt else ""
            print(f"interrupted{hint}", file=sys.stderr)
            sys.exit(INTERRUPTED_EXIT_CODE)

    return wrapped


def parse_flags(argv):
    """absl flag parsing whose errors are one line and exit 2 (an absl `flags_parser`)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
