"""Backpressure: a bound, counted in images, on the work waiting for the inference threads, and a deadline.

A request reserves the images it will send to the model when it is admitted (``/predict`` one, ``/analyze``
one per window) and gives them back as they are predicted (or skipped). Past the bound a request is refused
at once with 503 and ``Retry-After`` (an estimate of how long the images already admitted will take), so
latency stays bounded instead of growing with the queue. A request with more images than the bound is
admitted only into an empty queue, so it can always run. Work still queued when its request's deadline
passes is dropped with a 503 that says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Busy

MAX_RETRY_AFTER_S = 60
_EWMA = 0.2  # weight of the latest batch in the per-image time estimate


class QueueFull(Busy):
    def __init__(self, held: int, limit: int, retry_after: int) -> None:
        super().__init__(
            f"the service is busy: {held} images are waiting for the model (limit {limit}); "
            f"retry in {retry_after} s or send the request to another replica", retry_after)


class DeadlineExceeded(Busy):
    def __init__(self, deadline_s: float, retry_after: int) -> None:
        super().__init__(
            f"the request was dropped: it waited for the model past the service's {deadline_s:g} s deadline; "
            f"the service is overloaded, retry in {retry_after} s", retry_after)


@dataclass(frozen=True)
class Deadline:
    """When a request's queued work stops being worth doing (``time.monotonic()`` seconds)."""

    at: float
    budget_s: float

    def expired(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) > self.at


class Admission:
    """Counts the images admitted and not yet predicted, across every served model (they share the threads).

    Used from the event loop only, so it needs no lock.
    """

    def __init__(
        self, limit: int, deadline_s: float, on_idle: Callable[[], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.limit = limit
        self.deadline_s = deadline_s
        self.on_idle = on_idle  # called when the last admitted image is done
        self.on_refused = on_refused or (lambda reason: None)  # "queue_full" or "deadline"
        self.held = 0
        self.per_image_s = 0.02  # until the first batch says otherwise
        self.workers = 1  # batches that run at once (app.state sets it once the models are loaded)

    @property
    def saturated(self) -> bool:
        """No request could be admitted now."""
        return self.held >= self.limit

    def retry_after(self) -> int:
        """Whole seconds until what is admitted now should have run (1 to 60)."""
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(self.held * self.per_image_s / self.workers)))

    def deadline(self) -> Deadline:
        return Deadline(time.monotonic() + self.deadline_s, self.deadline_s)

    def _full(self) -> QueueFull:
        self.on_refused("queue_full")
        return QueueFull(self.held, self.limit, self.retry_after())

    def check(self) -> None:
        """Refuse early (before any decoding) when nothing could be admitted."""
        if self.saturated:
            raise self._full()

    def admit(self, images: int) -> Ticket:
        if self.held and self.held + images > self.limit:
            raise self._full()
        self.held += images
        return Ticket(self, images)

    def expired(self, deadline: Deadline) -> DeadlineExceeded:
        """The error for work dropped past its deadline (the batcher raises it in the waiting request)."""
        self.on_refused("deadline")
        return DeadlineExceeded(deadline.budget_s, self.retry_after())

    def observe(self, seconds: float, images: int) -> None:
        """A batch of ``images`` took ``seconds`` on an inference thread."""
        if images > 0:
            self.per_image_s += _EWMA * (seconds / images - self.per_image_s)

    def _release(self, images: int) -> None:
        self.held -= images
        if self.held == 0 and self.on_idle is not None:
            self.on_idle()


class Ticket:
    """The images one request reserved; give them back as they are done, the rest on exit."""

    def __init__(self, admission: Admission, images: int) -> None:
        self._admission = admission
        self.remaining = images

    def release(self, images: int) -> None:
        images = min(images, self.remaining)
        if images <= 0:
            return
        self.remaining -= images
        self._admission._release(images)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release(self.remaining)
