"""The real decode worker, with faults on cue for the isolation tests: an upload whose name contains
``segfault`` kills the worker with SIGSEGV (as a crash in a C reader would), ``hang`` never finishes, ``slow``
takes a second. Run as ``python -m tests.app.faulty_decode_worker``."""

import os
import signal
import time

from app.runtime import decode_worker

_real_handle = decode_worker.handle


def handle(header, body, specs):
    name = str(header.get("name", ""))
    if "segfault" in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in name:
        time.sleep(3600)
    if "slow" in name:
        time.sleep(1.0)
    return _real_handle(header, body, specs)


decode_worker.handle = handle

if __name__ == "__main__":
    decode_worker.main()
