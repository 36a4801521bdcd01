"""What every kdkeras command shares: one clear line and exit 2 on bad input."""

import os
import sys

from kdkeras.errors import TrainingError, UsageError

USAGE_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1


def quiet_tensorflow_logs():
    """Keeps TensorFlow's C++ start-up chatter out of a command's output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run(main):
    """Wraps an absl `main(argv)`: user errors become one line and exit 2,
    a run that cannot go on one line and exit 1."""

    def wrapped(argv):
        try:
            return main(argv)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        except TrainingError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(FAILURE_EXIT_CODE)

    return wrapped
