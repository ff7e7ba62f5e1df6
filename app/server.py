"""Serving with uvicorn: one worker, the settings' timeouts and connection limit, request-head deadlines.

uvicorn times out idle keep-alive connections but not a client that connects and then sends its request
line and headers slowly, or not at all: each such connection would be held (and count against the
connection limit) forever. ``HeadTimeoutH11Protocol`` closes a connection whose request head has not
fully arrived ``header_timeout_s`` after the connection opened, or after the first bytes of a later
request on it. The body has its own deadline (``BodyLimitMiddleware``). On SIGTERM uvicorn stops
accepting, lets in-flight requests finish for up to ``shutdown_timeout_s``, then cancels what is left
and exits.

Past ``max_connections`` uvicorn answers 503 itself, from outside the application, with a plain-text body;
``connection_limit_response`` answers it as every other refusal (``{"error"}``, ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json

import h11
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

from .main import create_app
from .settings import Settings


class HeadTimeoutH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle = None
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._head_cycle:
            self._head_cycle = self.cycle  # a whole request head arrived
            self._disarm_head_timer()

    def data_received(self, data: bytes) -> None:
        # The first bytes of a keep-alive connection's next request start its head deadline (until
        # then uvicorn's keep-alive timeout applies); super() disarms it once the head is complete.
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()
        super().data_received(data)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm_head_timer()  # the transport now belongs to the websocket protocol
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass  # h11 is mid-message; closing the transport is all that is left to do
        self.transport.close()


CONNECTION_LIMIT_BODY = json.dumps({
    "error": "the service has as many connections open as it accepts; retry in a moment, or use fewer connections"
}).encode()


async def connection_limit_response(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(CONNECTION_LIMIT_BODY)).encode()),
        (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": CONNECTION_LIMIT_BODY, "more_body": False})


def uvicorn_config(settings: Settings, host: str, port: int) -> uvicorn.Config:
    # uvicorn's h11 protocol calls this module-level app for a request past limit_concurrency
    h11_impl.service_unavailable = connection_limit_response  # type: ignore[assignment]
    protocol = type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"header_timeout_s": settings.header_timeout_s})
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        workers=1,
        http=protocol,
        log_config=None,  # app.log configured the root logger; uvicorn's loggers propagate to it
        log_level=settings.log_level.lower(),
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]  (a float works)
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
        server_header=False,
    )


def serve(settings: Settings, host: str, port: int) -> None:
    uvicorn.Server(uvicorn_config(settings, host, port)).run()
