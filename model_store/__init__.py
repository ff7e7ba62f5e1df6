"""What the service (``app``) and the training code (``training``) share.

Station readers, the spectrogram pipeline, labels, the model definition, and the checkpoint format
with a registry of stored models. Neither ``app`` nor ``training`` is imported from here.
"""

from pathlib import Path

from .checkpoint import LoadedModel, Manifest, load_checkpoint, read_manifest, save_checkpoint
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
from .labels import AZIMUTH_CLASSES, MAGNITUDE_CLASSES, NORMAL, TASKS
from .model import ModelConfig, PrecursorNet, create_model
from .outputs import Calibration
from .registry import ModelRegistry
from .series import StationSeries
from .spectrogram import InputSpec

#: The store that ships with the package (the committed default model lives here).
PACKAGED_STORE = Path(__file__).resolve().parent / "models"

__all__ = [
    "AZIMUTH_CLASSES",
    "Calibration",
    "MAGNITUDE_CLASSES",
    "NORMAL",
    "PACKAGED_STORE",
    "TASKS",
    "CheckpointError",
    "CorruptFileError",
    "ImageTooLargeError",
    "InputSpec",
    "InvalidImageError",
    "LayoutMismatchError",
    "MissingExtraError",
    "LoadedModel",
    "Manifest",
    "ModelConfig",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelStoreError",
    "NotPngError",
    "PrecursorNet",
    "ReadError",
    "StationSeries",
    "UnknownFormatError",
    "UnsupportedComponentsError",
    "UnsupportedSamplingError",
    "create_model",
    "load_checkpoint",
    "read_manifest",
    "read_series",
    "save_checkpoint",
    "supported_formats",
]
