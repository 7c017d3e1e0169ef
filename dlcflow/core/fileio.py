"""Atomic file writing: a temp file in the same folder, renamed over the target when done.

A crash or an error never leaves a half-written output under the final name, and the
final file gets the usual permissions (``0o666`` less the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_path(path: str | os.PathLike[str]) -> Path:
    """Create an empty temp file beside ``path`` (same suffix, usual permissions)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.chmod(name, _file_mode())
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same suffix, so writers that pick a format by
    extension work); rename it to ``path`` when the block succeeds, delete it otherwise."""
    target = Path(path)
    tmp = temp_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def temp_folder(dest: str | os.PathLike[str]) -> Path:
    """Create an empty temp folder beside ``dest`` (for :func:`replace_folder`)."""
    target = Path(dest)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    tmp.mkdir(parents=True)
    return tmp


@contextlib.contextmanager
def atomic_folder(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp folder beside ``dest``; it replaces ``dest`` as a whole when the block
    succeeds and is deleted otherwise."""
    tmp = temp_folder(dest)
    try:
        yield tmp
        replace_folder(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_folder(tmp: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Move a finished temp folder to ``dest``, replacing an older one (restored if the
    move fails)."""
    tmp, dest = Path(tmp), Path(dest)
    old = None
    if dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.old")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
