"""One process per output folder: the lock a trainer, a tuner or an export holds on the folder it writes.

    with folder_lock("runs/quickstart", "training"):
        ...  # write into the folder

A second command into a folder in use stops at once with `FolderInUseError`, whose message names the folder
and the other process (its pid, host, what it is doing, since when, and its command line). The lock is an
advisory `flock` on `<folder>/.lock`, which the kernel releases when its process ends however it ends (SIGKILL
included), so the lock of a process that is gone is stale by construction and the next command simply takes it;
the file's contents (who holds it) are rewritten by each holder. Works on local filesystems and on NFS (Linux
maps `flock` to NFS byte-range locks). On systems without `fcntl` (Windows) the lock is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import warnings

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["LOCK_FILE", "FolderInUseError", "folder_lock", "lock_holder"]

#: The lock's file name inside the locked folder.
LOCK_FILE = ".lock"

# Folders this process holds (real path -> depth): a command that locks its folder before importing TensorFlow,
# so that a second command is stopped in a second, then calls code that locks the folder again, holds it once.
_HELD: dict[str, int] = {}


class FolderInUseError(RuntimeError):
    """Another live process holds the folder's lock; `holder` is what it wrote there (may be empty)."""

    def __init__(self, folder: str, purpose: str, holder: dict):
        self.folder, self.holder = folder, holder
        who = describe_holder(holder)
        super().__init__(
            f"Output folder {folder!r} is in use by another process ({who}), so {purpose} here would mix two "
            "processes' files. Wait for it to finish or stop it, or give this command another output folder."
        )


def describe_holder(holder: dict) -> str:
    """`pid 123 on host h, training since 2026-12-03 22:40:00 UTC, command: python ...` from a lock's contents."""
    if not holder:
        return "its details are not written yet"
    parts = [f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"]
    if holder.get("purpose"):
        since = holder.get("started")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if isinstance(since, (int, float)) else "?"
        parts.append(f"{holder['purpose']} since {when}")
    if holder.get("command"):
        parts.append(f"command: {holder['command']}")
    return ", ".join(parts)


def lock_holder(folder: str) -> dict | None:
    """What the process holding `folder`'s lock wrote, or None when no live process holds it."""
    path = os.path.join(folder, LOCK_FILE)
    if fcntl is None or not os.path.exists(path):
        return None
    try:
        handle = open(path, "r+", encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


@contextlib.contextmanager
def folder_lock(folder: str, purpose: str):
    """Holds `folder`'s lock (creating the folder) while the block runs; raises `FolderInUseError` at once if
    another live process holds it. `purpose` (e.g. "training") is shown to whoever finds the folder locked.

    Re-entrant within a process (an inner `folder_lock` of a folder this process holds does nothing). A folder
    this call created and that is empty when the block ends (a command that failed before writing anything) is
    removed."""
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    created = not os.path.exists(folder)
    if fcntl is None:
        warnings.warn(f"No file locking on this system: nothing stops a second process writing into {folder!r}.",
                      stacklevel=3)
        os.makedirs(folder, exist_ok=True)
        yield
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    handle = _acquire(path, folder, purpose)
    _HELD[key] = 1
    try:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose, "started": time.time(),
                  "command": " ".join(sys.argv)}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        yield
    finally:
        # Unlink before unlocking: a process that opened the old file and locks it after us sees it unlinked
        # (`_acquire` checks) and starts over on a fresh file, so two holders never coexist.
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only if empty


def _acquire(path: str, folder: str, purpose: str):
    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise FolderInUseError(folder, purpose, holder) from None
        try:
            same_file = os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
        except FileNotFoundError:
            same_file = False
        if same_file:
            return handle
        # The holder we waited behind unlinked the file as it let go: retry on the current one.
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _read(handle) -> dict:
    try:
        handle.seek(0)
        text = handle.read()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
