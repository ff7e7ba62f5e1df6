"""Spectrogram PNGs: an image written as 8-bit RGB panels side by side (with a text chunk naming the input
description it was made for), and an uploaded PNG read back, checked (size in its header before anything is
decoded; colour types and bit depths brought to 8-bit RGB) and decoded for the input description it is meant
for. A PNG decoded with :func:`png_to_image` gives the image the array route gives, up to 8-bit quantisation,
so a spectrogram saved by the service or the dataset builder predicts the same.
"""

from __future__ import annotations

import io
import json
import re
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin

from .errors import ImageTooLargeError, InvalidImageError, LayoutMismatchError, NotPngError
from .input_spec import PANEL_CHANNELS, InputSpec
from .resize import resize_bilinear
from .spectrogram import to_uint8

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Largest PNG we decode, checked in its header before decoding (decompression-bomb guard): at most
# 4096 pixels per side. Decoding the largest takes about 650 MB at its peak.
MAX_PNG_SIDE = 4096
MAX_PNG_PIXELS = MAX_PNG_SIDE * MAX_PNG_SIDE
# Pillow's modes for PNG colour types: 8-bit ones convert to RGB as they are (alpha is dropped);
# 16-bit colour already arrives as 8-bit RGB(A); 16-bit greyscale is scaled to 8-bit levels here.
_PNG_RGB_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "1")
_PNG_GREY16_MODES = ("I;16", "I;16B", "I;16L", "I")
PNG_TEXT_KEY = "precursor-input"  # tEXt chunk naming the representation and spec fingerprint
MAX_PNG_TEXT_CHARS = 4096  # a longer precursor-input chunk is not one this package wrote
ASPECT_TOLERANCE = 0.02  # a PNG of another size fits a layout if its aspect ratio is within 2%


def png_metadata(spec: InputSpec) -> dict[str, object]:
    return {"representation": spec.representation, "fingerprint": spec.fingerprint,
            "channels": list(spec.input_channels), "frequency_hz": [spec.fmin_hz, spec.fmax_hz],
            "window_s": spec.window_s, "db_range": [spec.db_min, spec.db_max]}


def image_to_png(image: np.ndarray, spec: InputSpec | None = None) -> bytes:
    """(C, H, W) float image in [0, 1] -> 8-bit RGB PNG bytes, panels of 3 channels side by side.

    With ``spec`` the PNG carries a text chunk describing its layout (ignored by image viewers).
    """
    u8 = to_uint8(image)
    if u8.shape[0] % PANEL_CHANNELS:
        raise ValueError(f"an image of {u8.shape[0]} channels does not fill RGB panels")
    panels = [np.moveaxis(u8[k : k + PANEL_CHANNELS], 0, -1) for k in range(0, u8.shape[0], PANEL_CHANNELS)]
    info = None
    if spec is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_TEXT_KEY, json.dumps(png_metadata(spec), sort_keys=True))
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(panels, axis=1), mode="RGB").save(buf, format="PNG", optimize=False, pnginfo=info)
    return buf.getvalue()


@dataclass(frozen=True)
class PngImage:
    """A decoded PNG: 8-bit RGB pixels and its text chunks."""

    rgb: np.ndarray  # (height, width, 3) uint8
    text: dict[str, str]

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))

    @property
    def fingerprint(self) -> str | None:
        """The spec fingerprint the PNG's ``precursor-input`` chunk names; None if absent or not ours."""
        chunk = self.text.get(PNG_TEXT_KEY, "")
        if len(chunk) > MAX_PNG_TEXT_CHARS:  # ours is a few hundred characters
            return None
        try:
            value = json.loads(chunk).get("fingerprint")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: deeply nested JSON
            return None
        return value if isinstance(value, str) else None


_OBJECT_REPR = re.compile(r" ?<[^<>]* (object )?at 0x[0-9a-fA-F]+>")


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with; refuses oversized images."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidImageError("PNG could not be decoded: its IHDR header chunk is missing")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise InvalidImageError(f"PNG is {width}x{height} pixels: an image needs at least one pixel each way")
    if width > MAX_PNG_SIDE or height > MAX_PNG_SIDE or width * height > MAX_PNG_PIXELS:
        raise ImageTooLargeError(
            f"PNG is {width}x{height} pixels; this service accepts at most {MAX_PNG_SIDE} pixels per side "
            f"and {MAX_PNG_PIXELS} pixels in all: downscale it"
        )
    return width, height


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB levels of a decoded PNG, whatever its colour type and bit depth."""
    if img.mode == "RGB":
        return img
    if img.mode in _PNG_RGB_MODES:
        return img.convert("RGB")
    if img.mode in _PNG_GREY16_MODES:
        grey = np.asarray(img).astype(np.uint32)
        levels = (grey * 2 + 257) // 514  # round(v / 257): 65535 -> 255, 257 * k -> k
        return Image.fromarray(np.clip(levels, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    raise InvalidImageError(
        f"PNG mode {img.mode!r} is not supported; use 8- or 16-bit RGB, RGBA or greyscale"
    )


def read_png(data: bytes) -> PngImage:
    """Decode an 8- or 16-bit RGB(A)/grey PNG to 8-bit RGB; refuse non-PNG, damaged or oversized input.

    The size is checked in the header before anything is decoded. An 8-bit RGB PNG keeps its levels.
    """
    if not data.startswith(PNG_MAGIC):
        raise NotPngError("not a PNG file (missing PNG signature); upload a PNG spectrogram")
    _png_size(data)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            rgb = np.asarray(_to_rgb(img), dtype=np.uint8)
            text = {str(k): str(v) for k, v in getattr(img, "text", {}).items()}
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = _OBJECT_REPR.sub("", str(exc))  # Pillow names the file object: no internals in messages
        raise InvalidImageError(f"PNG could not be decoded: {reason}; upload the complete, undamaged file") from exc
    return PngImage(rgb, text)


def layout_fit(size: tuple[int, int], spec: InputSpec) -> str | None:
    """``exact`` if a PNG of ``size`` (height, width) is the spec's layout, ``resized`` if its aspect
    ratio matches (it will be resized), None if it fits neither."""
    height, width = size
    want_h, want_w = spec.png_size
    if (height, width) == (want_h, want_w):
        return "exact"
    if height and abs((width / height) / (want_w / want_h) - 1.0) <= ASPECT_TOLERANCE:
        return "resized"
    return None


@dataclass(frozen=True)
class DecodedImage:
    image: np.ndarray  # (in_chans, H, W) float32 in [0, 1] at the spec's size
    original_size: tuple[int, int]  # (height, width) as uploaded
    resized: bool


def _mismatch(png: PngImage, spec: InputSpec) -> LayoutMismatchError:
    height, width = png.size
    return LayoutMismatchError(f"PNG is {width}x{height}; this model expects a {spec.describe_layout()}")


def png_planes(png: PngImage, spec: InputSpec) -> np.ndarray:
    """The spec's input channels from a PNG of exactly its layout, as uint8 (in_chans, H, W)."""
    if layout_fit(png.size, spec) != "exact":
        raise _mismatch(png, spec)
    return np.concatenate([np.moveaxis(p, -1, 0) for p in np.split(png.rgb, spec.panels, axis=1)])


def png_to_image(data: bytes | PngImage, spec: InputSpec) -> DecodedImage:
    """Decode a PNG into the spec's image; refuse non-PNG, damaged, oversized or mis-shaped input.

    A PNG of another size whose aspect ratio fits the layout is resized (bilinear) panel by panel, one
    float channel at a time, so memory stays bounded.
    """
    png = data if isinstance(data, PngImage) else read_png(data)
    fit = layout_fit(png.size, spec)
    if fit is None:
        raise _mismatch(png, spec)
    if fit == "exact":
        planes = png_planes(png, spec)
        image = np.empty(planes.shape, dtype=np.float32)  # C-contiguous, whatever the planes' strides: a
        np.divide(planes, np.float32(255.0), out=image)  # strided image made normalising it 10x slower
        return DecodedImage(image, png.size, False)
    rgb = png.rgb
    if png.size[1] % spec.panels:
        width = spec.panels * (png.size[1] // spec.panels)
        rgb = np.asarray(Image.fromarray(rgb).resize((width, png.size[0]), Image.Resampling.BILINEAR))
    planes = np.stack([panel[:, :, c] for panel in np.split(rgb, spec.panels, axis=1) for c in range(PANEL_CHANNELS)])
    planes = planes.astype(np.float32) / np.float32(255.0)
    return DecodedImage(np.clip(resize_bilinear(planes, spec.image_size), 0.0, 1.0), png.size, True)


@dataclass(frozen=True)
class ChosenInput:
    """A PNG decoded for the input description it was meant for (see :func:`decode_png_for`)."""

    index: int  # into the candidates
    why: str
    decoded: DecodedImage


def choose_input(png: PngImage, candidates: list[tuple[str, InputSpec]]) -> tuple[int, str]:
    """Which candidate (name, spec) a PNG is meant for, and why: the spec fingerprint it carries, else the one
    whose layout it has exactly, else one whose aspect ratio it has (it will be resized); the first candidate
    first among equals. A PNG that fits none is a LayoutMismatchError saying what each expects."""
    if png.fingerprint:
        for i, (_, spec) in enumerate(candidates):
            if spec.fingerprint == png.fingerprint:
                return i, "the input description the PNG carries"
    for fit, why in (("exact", "the PNG's layout"), ("resized", "the PNG's aspect ratio (resized)")):
        for i, (_, spec) in enumerate(candidates):
            if layout_fit(png.size, spec) == fit:
                return i, why
    height, width = png.size
    expected = "; ".join(f"{name}: {spec.describe_layout()}" for name, spec in candidates)
    raise LayoutMismatchError(f"PNG is {width}x{height}, which fits no served model; expected {expected}")


def decode_png_for(data: bytes, candidates: list[tuple[str, InputSpec]], named: bool = False) -> ChosenInput:
    """Decode an uploaded PNG for the candidate it is meant for (:func:`choose_input`), or, when the caller
    ``named`` its one candidate, for that one whatever the PNG says."""
    png = read_png(data)
    index, why = (0, "the model field") if named else choose_input(png, candidates)
    return ChosenInput(index, why, png_to_image(png, candidates[index][1]))
