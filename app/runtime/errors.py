"""Why the serving machinery refused work; ``app.errors`` turns each into its HTTP status."""

from __future__ import annotations


class Refusal(Exception):
    """Work the runtime will not do, with a message a client can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Busy(Refusal):
    """Overloaded (the queue is full, or the work waited past its deadline): retry after ``retry_after`` s (503)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelNotServed(Refusal):
    """No served model has that name or version (404)."""


class ImagesGone(Refusal):
    """An analysis's images are no longer kept (410)."""


class ImageNotFound(Refusal):
    """No such analysis, window or image (404)."""
