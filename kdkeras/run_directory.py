"""A run directory belongs to one process and holds one set of settings.

`claim` keeps a second process out for as long as the first runs;
`check_settings` refuses a directory recorded with other settings;
`by_content` names the files among them by what they hold.
"""

import errno
import fcntl
import json
import os
import socket
import time

from kdkeras import io
from kdkeras.errors import UsageError

__all__ = ["by_content", "check_settings", "differing_settings", "claim", "Claim", "CLAIM_FILE", "FILE_SETTINGS"]

# Settings that name a file whose content, not its path, decides what is trained.
FILE_SETTINGS = ("teacher_checkpoint",)


def by_content(settings, keys=FILE_SETTINGS):
    """`settings` with each file of `keys` recorded as `<key>_sha256`, the SHA-256 of its bytes, not its path.

    The same file reached by another path (a moved checkout, a relative path
    from another directory) then agrees with the record, and a file
    rewritten in place does not. A key naming no file keeps its path, for
    the loader's own error.
    """
    settings = dict(settings)
    for key in keys:
        path = settings.get(key)
        if path and os.path.isfile(path):
            del settings[key]
            settings[f"{key}_sha256"] = io.file_sha256(path)
    return settings


def differing_settings(recorded, settings):
    """The names of `settings` a `recorded` run holds otherwise, in their order; a key the record lacks (a
    setting added since it was written) agrees."""
    return [k for k, v in settings.items() if recorded.get(k, v) != v]


def check_settings(directory, settings, record="run.json", flag="--output_dir", what="run", ignored=()):
    """Refuses `directory` if its `record` holds other `settings`; then records ours.

    A key the record lacks (a setting added since it was written) is taken
    as agreeing, and so is a key in `ignored` (settings that do not change
    what this run trains). `flag` names the directory and `what` its
    content in the message; differing settings are named in the order of
    `settings`.

    Raises:
        UsageError: the record is unreadable, or a setting differs (each one
            named as a flag).
    """
    path = os.path.join(directory, record)
    if os.path.exists(path):
        try:
            with open(path) as f:
                theirs = json.load(f)
        except (OSError, ValueError):
            raise UsageError(f"{path}: unreadable run record; remove it or choose another {flag}") from None
        differing = [k for k in differing_settings(theirs, settings) if k not in ignored]
        if differing:
            raise UsageError(
                f"{flag}={directory} holds a {what} with other settings "
                f"({', '.join('--' + k for k in differing)} differ); choose another {flag} or remove it"
            )
    os.makedirs(directory, exist_ok=True)
    io.write_json_atomic(path, settings)


CLAIM_FILE = "claim.lock"


class Claim:
    """This process's claim on a directory: an exclusive `fcntl.flock` on `claim.lock`.

    The lock lives as long as the open file, so the kernel drops it when
    the process ends however it ends (exit, SIGKILL, a crash); a claim
    whose lock can be taken is therefore stale, whatever the file says.
    The file holds the holder's pid, host and start time so that a refusal
    names it, and is emptied on release, so text left in a file whose lock
    was free is the claim of a process that died.

    Across hosts it holds as far as `flock` does on the filesystem: on a
    local disk and on NFSv4 (where Linux maps `flock` onto byte-range locks
    the server arbitrates; a dead host's lock lapses with its lease, about
    90 s) a second host is refused too; on filesystems where `flock` is
    local to one host (NFSv3 without lockd, some FUSE and SMB mounts) two
    hosts can both claim one directory, and only the recorded host in the
    file tells the later one.
    """

    def __init__(self, directory, flag="--output_dir", what="run"):
        self.directory = directory
        self.flag = flag
        self.what = what
        self.path = os.path.join(directory, CLAIM_FILE)
        self._fd = None

    def acquire(self):
        """Takes the claim, or raises `UsageError` naming the process that holds it."""
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _describe(_read(fd))
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise UsageError(
                f"{self.flag}={self.directory} is in use by another {self.what} ({holder}); "
                f"wait for it to end or choose another {self.flag}"
            ) from None
        previous = _read(fd)
        if previous:
            print(
                f"[kdkeras] {self.flag}={self.directory}: taking over the stale claim of {_describe(previous)}, "
                "which ended without releasing it",
                flush=True,
            )
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(mine) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        self.previous = previous
        return self

    def release(self):
        """Empties the file (a clean end leaves no stale claim) and drops the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def claim(directory, flag="--output_dir", what="run"):
    """Claims `directory` for this process (a context manager; see `Claim`)."""
    return Claim(directory, flag, what)


def _read(fd):
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        return json.loads(text) if text else None
    except ValueError:
        return {"unreadable": True}


def _describe(holder):
    if not holder:
        return "a process that has not yet recorded itself"
    if holder.get("unreadable"):
        return "a process whose claim file is unreadable"
    return f"process {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
