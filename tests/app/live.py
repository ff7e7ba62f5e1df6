"""A real service process for the tests that need sockets, signals and the container scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(**settings: str) -> dict[str, str]:
    """The environment of a container: python on PATH is this venv's, settings as PRECURSOR_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECURSOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"PRECURSOR_{k.upper()}": v for k, v in settings.items()})
    return env


class LiveServer:
    """``docker/entrypoint.sh`` run as the container runs it (bound to loopback), logs to a file."""

    def __init__(self, log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.env = service_env(**settings)
        self.env["PORT"] = str(self.port)
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "--host", "127.0.0.1"], cwd=ROOT, env=self.env,
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthcheck(self, env: dict[str, str] | None = None) -> int:
        return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env or self.env, timeout=10).returncode

    def wait_ready(self, timeout: float = 120.0) -> None:
        key = self.env.get("PRECURSOR_API_KEY")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/readyz", headers={"X-API-Key": key} if key else None).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.3)
        raise AssertionError(f"service not ready after {timeout} s:\n{self.logs()}")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def read_response(
    sock: socket.socket, timeout: float = 10.0, close_wait: float = 1.0
) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers (lower-case names), body and whether the server closed the connection after it
    (within ``close_wait`` seconds)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    sock.settimeout(close_wait)
    try:
        closed = sock.recv(1) == b""
    except (TimeoutError, socket.timeout):
        closed = False
    except ConnectionResetError:
        closed = True
    return status, headers, body, closed


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (None if it was still open after ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, socket.timeout):
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start
