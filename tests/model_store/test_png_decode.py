"""PNG uploads: every PNG colour type and bit depth at its right levels, oversized ones refused from the header."""

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from model_store import ImageTooLargeError, InputSpec, InvalidImageError, LayoutMismatchError
from model_store.png import MAX_PNG_SIDE, _to_rgb, image_to_png, png_to_image
from model_store.spectrogram import quantize, window_to_image
from model_store.windows import cut_windows

SPEC = InputSpec()
GREY, RGB, GREY_ALPHA, RGBA = 0, 2, 4, 6  # PNG colour types


def raw_png(pixels: np.ndarray, colour_type: int) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour): pixels (H, W[, C]) of uint8 or uint16."""
    height, width = pixels.shape[:2]
    depth = 16 if pixels.dtype == np.uint16 else 8
    rows = np.frombuffer(pixels.astype(">u2" if depth == 16 else np.uint8).tobytes(), np.uint8).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()  # filter byte 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def levels(lut_day) -> np.ndarray:
    """8-bit levels (H, W, 3) of a real spectrogram."""
    img = window_to_image(cut_windows(lut_day, SPEC)[0].data, SPEC)
    return np.moveaxis(np.rint(img * 255).astype(np.uint8), 0, -1)


def test_eight_bit_rgb_gives_exactly_its_levels(levels):
    decoded = png_to_image(raw_png(levels, RGB), SPEC)
    assert np.array_equal(decoded.image, np.moveaxis(levels, -1, 0).astype(np.float32) / 255.0)
    img = levels.transpose(2, 0, 1) / 255.0
    assert np.array_equal(png_to_image(image_to_png(img), SPEC).image, quantize(img))


def test_sixteen_bit_rgb_and_rgba_match_their_eight_bit_levels(levels):
    eight = png_to_image(raw_png(levels, RGB), SPEC).image
    wide = levels.astype(np.uint16) * 257
    assert np.array_equal(png_to_image(raw_png(wide, RGB), SPEC).image, eight)
    alpha = np.full(levels.shape[:2] + (1,), 65535, dtype=np.uint16)
    assert np.array_equal(png_to_image(raw_png(np.concatenate([wide, alpha], -1), RGBA), SPEC).image, eight)


def test_sixteen_bit_greyscale_is_scaled_not_saturated(levels):
    grey8 = levels[..., 0]
    eight = png_to_image(raw_png(grey8, GREY), SPEC).image
    sixteen = png_to_image(raw_png(grey8.astype(np.uint16) * 257, GREY), SPEC).image
    assert np.array_equal(sixteen, eight)
    assert (sixteen == 1.0).mean() < 0.01  # saturating 16-bit values at 255 made nearly every pixel white
    # Pillow's own 16-bit greyscale writer, and grey with alpha, give the same
    buf = io.BytesIO()
    Image.fromarray(grey8.astype(np.uint16) * 257).save(buf, format="PNG")
    assert np.array_equal(png_to_image(buf.getvalue(), SPEC).image, eight)
    with_alpha = np.stack([grey8.astype(np.uint16) * 257, np.full_like(grey8, 65535, dtype=np.uint16)], -1)
    assert np.array_equal(png_to_image(raw_png(with_alpha, GREY_ALPHA), SPEC).image, eight)


def test_a_mode_without_a_meaning_here_is_refused_by_name():
    with pytest.raises(InvalidImageError, match="mode 'CMYK' is not supported"):
        _to_rgb(Image.new("CMYK", (4, 4)))


@pytest.mark.parametrize("width, height", [(1, 16_000_000), (16_000_000, 1), (20_000, 20_000), (MAX_PNG_SIDE + 1, 8)])
def test_oversized_pngs_are_refused_from_the_header_before_decoding(width, height):
    header = struct.pack(">IIBBBBB", width, height, 8, GREY, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=f"at most {MAX_PNG_SIDE} pixels per side"):
        png_to_image(b"\x89PNG\r\n\x1a\n" + ihdr + b"\x00" * 64, SPEC)  # no image data: never decoded
    assert time.perf_counter() - start < 0.1


def test_a_real_one_pixel_wide_bomb_is_refused_and_the_largest_sides_accepted():
    bomb = raw_png(np.zeros((16_000_000, 1), dtype=np.uint8), GREY)  # the 62 kB file that cost ~0.9 GB
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLargeError, match="1x16000000 pixels"):
        png_to_image(bomb, SPEC)
    decoded = png_to_image(raw_png(np.full((MAX_PNG_SIDE, MAX_PNG_SIDE), 128, dtype=np.uint8), GREY), SPEC)
    assert decoded.resized and decoded.image.shape == (3, 224, 224)
    assert np.allclose(decoded.image, 128 / 255, atol=1e-6)
    for shape in ((MAX_PNG_SIDE, 1), (1, MAX_PNG_SIDE)):  # within the limits, but no spectrogram layout
        with pytest.raises(LayoutMismatchError, match="expects a 224x224"):
            png_to_image(raw_png(np.full(shape, 128, dtype=np.uint8), GREY), SPEC)
