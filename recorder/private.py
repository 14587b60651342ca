"""Files and folders only their owner can read: captures and every report hold user chats, so
wstape creates files 0600 and folders 0700 (their missing parents too), whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(path: str | os.PathLike) -> None:
    """Creates `path` and its missing parents with mode 0700; existing folders are left as
    they are (Path.mkdir gives missing parents the umask's mode, not the one asked for)."""
    missing = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask


def open_private(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> IO:
    """open(path, mode) for writing a new or replaced file, created 0600; an existing file is
    made 0600 before anything is written to it. Its folder must exist, as for open()."""
    if not any(flag in mode for flag in "wax"):
        raise ValueError(f"open_private is for writing, not mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if "x" in mode else 0)
    flags |= os.O_APPEND if "a" in mode else (os.O_TRUNC if "w" in mode else 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode.replace("x", "w"), **kwargs)
    except BaseException:
        os.close(fd)
        raise


def readable_by_others(path: str | os.PathLike) -> bool:
    """True when a folder's group or others may read or enter it."""
    return bool(os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO))
