"""The HTTP service. Start it with ``python -m app`` (or ``make run``)."""

__version__ = "0.1.0"
