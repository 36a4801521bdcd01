"""Capturing what C++ code writes straight to file descriptors 1 and 2.

The TFLite converter and TFLite Micro print their logs, and TFLM even its
arena figures, from C++, past Python's `sys.stdout`/`sys.stderr`; a command
would otherwise lose its one-line summary or error among them, and TFLM's
figures could not be read.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def captured(*fds):
    """Sends the given file descriptors (default: 2) to one temporary file; yields a reader of it."""
    fds = fds or (2,)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    with tempfile.TemporaryFile(mode="w+b") as log:
        for fd in fds:
            os.dup2(log.fileno(), fd)

        def read():
            log.seek(0)
            return log.read().decode("utf-8", "replace")

        try:
            yield read
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
