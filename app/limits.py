"""Limits on a request body: its size and the time it may take to arrive.

Request bodies are limited while they stream in (not after they were buffered): a body larger than
the upload limit is refused with 413, one that has not fully arrived within the body timeout with
408. Both end the connection (``Connection: close``): the rest of the body is never read, so the
connection cannot carry another request.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .asgi import HttpMiddleware
from .request_id import HEADER, current_request_id


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self) -> _Refused:
        return _Refused(
            413, f"request body exceeds the {self.max_bytes / 2**20:.3g} MB upload limit; send a smaller file"
        )

    async def _reject(self, send: Send, refusal: _Refused) -> None:
        body = json.dumps({"error": refusal.message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        rid = current_request_id()
        if rid:
            headers.append((HEADER.lower().encode(), rid.encode()))
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = next((int(v) for k, v in scope.get("headers", []) if k == b"content-length" and v.isdigit()), 0)
        deadline = time.monotonic() + self.timeout_s
        received = 0
        body_done = False
        refusal: _Refused | None = None
        rejected = False

        async def limited_receive() -> Message:
            # Checked when the route first reads the body, so the request is routed (and its metrics
            # labelled) and nothing of an over-long declared body is read, not even after 100-continue.
            nonlocal received, body_done, refusal
            if declared > self.max_bytes:
                refusal = self._too_large()
                raise refusal
            if body_done:  # e.g. waiting for http.disconnect once the body is in: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                refusal = _Refused(
                    408, f"the request body did not arrive within {self.timeout_s:g} s; "
                    "send it faster or send a smaller file",
                )
                raise refusal from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refusal = self._too_large()
                    raise refusal
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            # Body parsers may turn our exception into their own error response; replace it with ours.
            nonlocal rejected
            if refusal is not None:
                if not rejected:
                    rejected = True
                    await self._reject(send, refusal)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _Refused as exc:
            if not rejected:
                rejected = True
                await self._reject(send, exc)
