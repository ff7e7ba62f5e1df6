"""A real uvicorn process started by the container's entrypoint: timeouts, limits, shutdown, request ids."""

import http.client
import json
import re
import time

from .conftest import LIVE_KEY
from .live import closed_within, read_response


def _post_head(path: str, length: int, key: str = LIVE_KEY) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _multipart(data: bytes, name: str = "S230101.LUT.gz") -> bytes:
    return (
        f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + b"\r\n--b--\r\n"


def test_entrypoint_serves_and_the_healthcheck_asks_readyz_with_the_key(live_server):
    assert live_server.healthcheck() == 0
    without_key = {k: v for k, v in live_server.env.items() if k != "PRECURSOR_API_KEY"}
    assert live_server.healthcheck(without_key) == 1  # /readyz needs the key on this service
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    conn.request("HEAD", "/livez", headers={"X-API-Key": LIVE_KEY})
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b""
    assert r.getheader("server") is None  # no server software banner


def test_request_ids_are_returned_and_on_every_log_line_of_the_request(live_server):
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    conn.request("GET", "/v2/models/nope", headers={"X-Request-ID": "trace-4242"})
    r = conn.getresponse()
    r.read()
    assert r.status == 404 and r.getheader("x-request-id") == "trace-4242"
    conn.request("GET", "/v2/models", headers={"X-Request-ID": "bad id with spaces"})
    r = conn.getresponse()
    r.read()
    assert re.fullmatch(r"[0-9a-f]{32}", r.getheader("x-request-id"))
    time.sleep(0.2)
    lines = [json.loads(line) for line in live_server.logs().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line["request_id"] == "trace-4242"]
    assert mine and any("/v2/models/nope" in line["message"] for line in mine)
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[0])


def test_a_body_that_stalls_gets_408_and_the_connection_is_closed(live_server):
    with live_server.connect() as sock:
        sock.sendall(_post_head("/analyze", 10_000) + b"--b\r\n")
        start = time.monotonic()
        status, headers, body, closed = read_response(sock)
    assert status == 408 and 0.8 < time.monotonic() - start < 5
    assert headers["connection"] == "close" and closed
    assert "did not arrive within 1 s" in json.loads(body)["error"]


def test_a_stalled_request_head_or_a_silent_connection_is_dropped(live_server):
    with live_server.connect() as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\n")  # and never the end of the headers
        assert closed_within(sock, 5) is not None
    with live_server.connect() as sock:
        assert closed_within(sock, 5) is not None


def test_connections_are_bounded_and_idle_ones_do_not_hold_slots(live_server):
    idle = [live_server.connect() for _ in range(6)]
    try:
        with live_server.connect() as sock:
            sock.sendall(b"GET /v2/models HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status, headers, body, _ = read_response(sock, close_wait=0.1)
            assert status == 503 and headers["connection"] == "close" and headers["retry-after"] == "1"
            assert headers["content-type"] == "application/json" and "connections open" in json.loads(body)["error"]
        for sock in idle:
            assert closed_within(sock, 5) is not None  # the header deadline frees them
        conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
        conn.request("GET", "/v2/models")
        assert conn.getresponse().status == 200
    finally:
        for sock in idle:
            sock.close()


def test_errors_keep_the_connection_usable_or_say_they_close_it(live_server, lut_bytes):
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    for path in ("/nope", "/v2/models/nope", "/v2/models"):  # 404, 404, 200 on one keep-alive connection
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        assert r.getheader("connection") != "close"
    assert r.status == 200
    # 413 for a declared length over the limit: the body is never read, so the server says it closes
    with live_server.connect() as sock:
        sock.sendall(_post_head("/analyze", 70 * 2**20) + b"--b\r\n")
        status, headers, payload, closed = read_response(sock)
    assert status == 413 and headers["connection"] == "close" and closed
    assert "64 MB upload limit" in json.loads(payload)["error"]


def test_sigterm_drains_in_flight_requests_and_exits_within_the_grace_period(live_servers, lut_bytes):
    server = live_servers["shutdown"]
    try:
        body = _multipart(lut_bytes)
        stalled = server.connect()  # a slow uploader that never finishes
        stalled.sendall(_post_head("/analyze", len(body)) + body[:100])
        in_flight = server.connect()  # a request whose body is still arriving when SIGTERM comes
        in_flight.sendall(_post_head("/analyze", len(body)) + body[: len(body) // 2])
        time.sleep(0.3)
        start = time.monotonic()
        server.proc.terminate()
        time.sleep(0.3)
        in_flight.sendall(body[len(body) // 2 :])
        status, _, payload, _ = read_response(in_flight, timeout=20)
        assert status == 200 and json.loads(payload)["summary"]["windows_analyzed"] == 4
        server.proc.wait(timeout=15)
        elapsed = time.monotonic() - start
        assert elapsed < 2 + 4, f"exit took {elapsed:.1f} s with a 2 s grace period"
        assert "timeout graceful shutdown exceeded" in server.logs()
        stalled.close()
        in_flight.close()
    finally:
        server.stop()
