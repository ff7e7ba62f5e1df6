"""What the service (``app``) and the training code (``training``) share.

Station readers, the spectrogram pipeline, labels, the model definition, and the checkpoint format
with a registry of stored models. Neither ``app`` nor ``training`` is imported from here.

The names below are imported on first use (PEP 562), so a process that only reads station files (the
service's decode workers) imports ``model_store.formats`` without torch.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

#: The store that ships with the package (the committed default model lives here).
PACKAGED_STORE = Path(__file__).resolve().parent / "models"

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("LoadedModel", "Manifest", "load_checkpoint", "read_manifest", "save_checkpoint"), "checkpoint"),
    **dict.fromkeys((
        "CheckpointError", "CorruptFileError", "ImageTooLargeError", "InvalidImageError", "LayoutMismatchError",
        "MissingExtraError", "ModelNotFoundError", "ModelStoreError", "NotPngError", "ReadError",
        "UnknownFormatError", "UnsupportedComponentsError", "UnsupportedSamplingError"), "errors"),
    **dict.fromkeys(("read_series", "supported_formats"), "formats"),
    **dict.fromkeys(("AZIMUTH_CLASSES", "MAGNITUDE_CLASSES", "NORMAL", "TASKS"), "labels"),
    **dict.fromkeys(("ModelConfig", "PrecursorNet", "create_model"), "model"),
    "Calibration": "outputs",
    "ModelRegistry": "registry",
    "StationSeries": "series",
    "InputSpec": "input_spec",
}

__all__ = ["PACKAGED_STORE", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .checkpoint import (
        LoadedModel,
        Manifest,
        load_checkpoint,
        read_manifest,
        save_checkpoint,
    )
    from .errors import (
        CheckpointError,
        CorruptFileError,
        ImageTooLargeError,
        InvalidImageError,
        LayoutMismatchError,
        MissingExtraError,
        ModelNotFoundError,
        ModelStoreError,
        NotPngError,
        ReadError,
        UnknownFormatError,
        UnsupportedComponentsError,
        UnsupportedSamplingError,
    )
    from .formats import read_series, supported_formats
    from .input_spec import InputSpec
    from .labels import AZIMUTH_CLASSES, MAGNITUDE_CLASSES, NORMAL, TASKS
    from .model import ModelConfig, PrecursorNet, create_model
    from .outputs import Calibration
    from .registry import ModelRegistry
    from .series import StationSeries
