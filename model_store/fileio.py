"""Small I/O helpers shared by the store, the readers and the training code."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to a temporary sibling, fsync, then rename over ``path``: readers never see half a file.

    ``durable=False`` skips the fsync (still never half a file, but a crash may lose the write): for files
    that are cheap to make again, such as a dataset's thousands of spectrograms.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it private; stores and datasets are read by other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_next_version(base: str | os.PathLike, files: dict[str, bytes]) -> str:
    """Write ``files`` (name -> bytes) as the next numbered version directory of ``base`` ("1", "2", ...) and
    return its number. They are written into a temporary directory that is renamed into place, so a reader sees
    a whole version or none; if another writer takes a number first, the next is taken; on any failure nothing
    is left behind. The directory is readable by other users (a store is read by the service's own user)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        while True:
            taken = [int(p.name) for p in base.iterdir() if p.name.isdigit()]
            version = str(max(taken, default=0) + 1)
            try:
                os.rename(tmp, base / version)  # atomic; fails if the name is taken
                break
            except OSError:
                if not (base / version).exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(base)
    return version


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (where the system lets a directory be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def parse_utc(value: str) -> datetime:
    """ISO-8601 time as an aware UTC datetime; a trailing ``Z`` is accepted and naive times are UTC."""
    t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
