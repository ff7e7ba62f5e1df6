"""Exceptions shared by readers, the spectrogram pipeline and the checkpoint store.

Every error a client can cause is a subclass of :class:`ModelStoreError`, so callers (the HTTP
service, the training CLI) can map them to a clear message without catching everything.
"""

from __future__ import annotations


class ModelStoreError(Exception):
    """Base class of every error raised by ``model_store``."""


class ReadError(ModelStoreError):
    """Station data could not be read."""


class UnknownFormatError(ReadError):
    """No reader recognised the input."""


class CorruptFileError(ReadError):
    """The input looks like a known format but is damaged or truncated."""


class MissingExtraError(UnknownFormatError):
    """The input is in a format whose reader needs an optional extra that is not installed."""


class UnsupportedComponentsError(ReadError):
    """The file is readable but records field components the model cannot use (e.g. an instrument frame)."""


class UnsupportedSamplingError(ModelStoreError):
    """The data's sampling cannot support the requested input spec."""


class InvalidImageError(ModelStoreError):
    """An uploaded spectrogram image is not a usable PNG."""


class NotPngError(InvalidImageError):
    """The upload is not a PNG at all."""


class LayoutMismatchError(InvalidImageError):
    """The PNG is a valid image but its layout (panels, aspect ratio) fits no model that could read it."""


class ImageTooLargeError(InvalidImageError):
    """The PNG decodes to more pixels than accepted (decompression-bomb guard)."""


class CheckpointError(ModelStoreError):
    """A stored model is missing, damaged, or does not match its manifest."""


class ModelNotFoundError(CheckpointError):
    """No stored model matches the requested name/version."""
