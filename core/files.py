"""Writing files so that a reader never sees half of one: the one place polyprop does it.

:func:`write_atomically` writes beside the target a temporary named
``.<name>.polyprop-tmp-<host>-<pid>-<random>`` (``<name>`` replaced by a hash of
it when the whole would be longer than the folder's NAME_MAX), flushes it to disk,
renames it over the target and flushes the folder.  A writer killed in between
leaves that temporary behind; the next :func:`write_atomically` to that target, or
:func:`remove_stale_temporaries`, removes it once its writer is dead (a process of
this host that no longer exists) or it has not been written for STALE_AFTER_S
seconds.  A live writer's temporary is never touched.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import stat
import time

MARK = ".polyprop-tmp-"
"""What every temporary's name holds, after ``.<name>`` and before ``<host>-<pid>-<random>``."""

STALE_AFTER_S = 24 * 3600.0
"""A temporary not written for this long is stale even if a process with its writer's pid runs (pid reuse, a host)."""

NAME_MAX = 255
"""The longest file name (bytes) when the folder's own limit cannot be read (os.pathconf)."""

_ENDING = 8 + 1 + 10 + 1 + 8
"""Bytes of ``<host>-<pid>-<random>``: 8 hex digits, a pid of up to 10 digits, 8 hex digits."""


def write_atomically(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    An error at any point leaves ``path`` as it was (absent, or the previous file)
    and no temporary file behind.  Text is written as UTF-8.  A symlink is
    followed: its target is replaced and the link stays.  The new file gets the
    mode of the file it replaces, or the umask's default (``0o666 & ~umask``).
    Stale temporaries of ``path`` left by dead writers are removed first.
    """
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(target)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = _create_temporary(target)
    try:
        with os.fdopen(handle, "wb") as file:
            _copy_mode(target, temporary)
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    fsync_folder(folder)


def temporary_prefix(path: str | os.PathLike[str]) -> str:
    """``.<name>.polyprop-tmp-``: the start of every temporary of ``path`` (the name hashed when too long)."""
    folder, name = os.path.split(os.path.realpath(os.fspath(path)))
    prefix = f".{name}{MARK}"
    if len(os.fsencode(prefix)) + _ENDING > _name_max(folder):
        prefix = f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}{MARK}"
    return prefix


def remove_stale_temporaries(path: str | os.PathLike[str], now: float | None = None) -> list[str]:
    """Remove the temporaries of ``path`` whose writer is dead or that are older than STALE_AFTER_S; their paths.

    A temporary's writer is dead when it ran on this host and no process has its
    pid any more.  Names that do not parse as a temporary of ``path`` are left alone.
    """
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    prefix = temporary_prefix(target)
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:  # no folder yet, or one we may not list: nothing of ours is there
        return []
    for name in names:
        writer = _writer(name, prefix)
        if writer is None:
            continue
        candidate = os.path.join(folder, name)
        try:
            age = now - os.lstat(candidate).st_mtime
            if age > STALE_AFTER_S or _is_dead(*writer):
                os.remove(candidate)
                removed.append(candidate)
        except OSError:  # renamed into place by its writer, removed by another cleaner, or not ours to remove
            continue
    return removed


def fsync_folder(folder: str) -> None:
    """Flush ``folder``'s entries (a rename in it) to disk; a no-op where folders cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _create_temporary(target: str) -> tuple[int, str]:
    """A new, empty temporary beside ``target`` (mode ``0o666 & ~umask``), opened for writing: ``(fd, path)``."""
    folder = os.path.dirname(target)
    prefix = temporary_prefix(target)
    while True:
        name = f"{prefix}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
        temporary = os.path.join(folder, name)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def _copy_mode(target: str, temporary: str) -> None:
    """Give the temporary the permission bits of the file it will replace, if there is one."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def _writer(name: str, prefix: str) -> tuple[str, int] | None:
    """``(host, pid)`` of a temporary named ``<prefix><host>-<pid>-<random>``, else None."""
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].split("-")
    if len(parts) != 3 or not all(parts) or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _is_dead(host: str, pid: int) -> bool:
    """Whether the writer ``pid`` on ``host`` is gone (one on another host, or this very process, is not known dead)."""
    if host != _HOST or pid == os.getpid() or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, owned by another user
        return False
    return False


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
"""This host, as 8 hex digits in temporaries' names: pids are only compared on the host that wrote them."""
