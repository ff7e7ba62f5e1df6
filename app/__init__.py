"""The HTTP service. Start it with ``python -m app`` (or ``make run``)."""

from .runtime.memory import leave_out_gpu_compiler

__version__ = "0.1.0"

leave_out_gpu_compiler()  # before anything imports timm: see its docstring
