"""Request body and concurrency limits, before kserve reads a byte: a too-large body is a 413, a full
queue a 503 with Retry-After; neither reaches the model."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from odpipe.serve import metrics


async def _refuse(send: Any, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) <= self.max_bytes:
            await self.app(scope, receive, send)  # h11 holds the client to its Content-Length
            return
        if declared is not None and declared.isdigit():
            metrics.REJECTED.labels("body_too_large").inc()
            await _refuse(send, 413, self._too_large(int(declared)))
            return
        # No (usable) Content-Length: read up to the limit here, then hand the body on.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                metrics.REJECTED.labels("body_too_large").inc()
                await _refuse(send, 413, self._too_large(size, at_least=True))
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int, at_least: bool = False) -> str:
        return (
            f"request body of {'more than ' if at_least else ''}{size} bytes exceeds this server's limit of "
            f"{self.max_bytes} bytes (--max-body-bytes)"
        )


class ConcurrencyLimitMiddleware:
    """At most `max_concurrency` inferences run; up to `max_queue` more wait; the rest get a 503."""

    def __init__(self, app: Any, max_concurrency: int, max_queue: int) -> None:
        self.app = app
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/infer"):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        if self._slots.locked() and self.waiting >= self.max_queue:
            metrics.REJECTED.labels("queue_full").inc()
            await _refuse(
                send,
                503,
                f"server busy: {self.max_concurrency} inferences running and {self.waiting} waiting "
                "(--max-concurrency, --max-queue); retry",
                [(b"retry-after", b"1")],
            )
            return
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            metrics.IN_FLIGHT.dec()
            self._slots.release()
