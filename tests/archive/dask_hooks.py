"""A worker plugin for the archive's Dask tests: inputs under a folder named ``slow`` take a second longer to
read (so a worker can be killed while it holds one), and reading an input whose name says ``poison`` kills the
worker process, as a reader that segfaults would. Registered plugins are set up again on restarted workers."""

from __future__ import annotations

import os
import time

from distributed.diagnostics.plugin import WorkerPlugin


class ArchiveTestHooks(WorkerPlugin):
    name = "archive-test-hooks"

    def setup(self, worker) -> None:
        from archive import task

        if getattr(task.read_bytes, "hooked", False):
            return
        real = task.read_bytes

        def read_bytes(url: str) -> bytes:
            if "poison" in url.rsplit("/", 1)[-1]:
                os._exit(70)  # the process dies mid-task: no exception, no cleanup
            if "/slow/" in url:
                time.sleep(1.0)
            return real(url)

        read_bytes.hooked = True
        task.read_bytes = read_bytes
