"""Small I/O helpers shared by the store, the readers and the training code."""

from __future__ import annotations

import os
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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def parse_utc(value: str) -> datetime:
    """ISO-8601 time as an aware UTC datetime; a trailing ``Z`` is accepted and naive times are UTC."""
    t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
