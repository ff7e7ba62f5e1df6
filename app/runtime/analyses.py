"""The images of recent analyses, kept in memory so a timeline need not carry them.

``/analyze`` with ``image_links=true`` answers with URLs instead of base64 PNGs and keeps what it
needs to draw them: each analysed window's 8-bit model input (the exact image a PNG would hold) and
its Grad-CAM maps. ``GET /v2/analyses/{id}/windows/{index}/{image}.png`` renders a PNG on request,
byte for byte the one ``include_spectrograms`` / ``explain`` would have inlined.

The cache is bounded: at most ``KEEP_ANALYSES`` analyses and ``KEEP_BYTES`` of images, least
recently used evicted first (the newest analysis is always kept, so one over the byte bound evicts
all others; one analysis holds at most ``PRECURSOR_MAX_ANALYZE_WINDOWS`` windows of 12 KB for the
power layout, 24 KB for the direction-aware one, at 64x64). Nothing survives a restart. An evicted analysis's
URLs answer 410 for a while (its id is remembered among the last ``REMEMBER_EVICTED``), an unknown
id 404; both say to run /analyze again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from model_store import Manifest
from model_store.png import image_to_png

from ..overlays import overlay_png
from ..presenters import direction_evidence_png
from .errors import ImageNotFound, ImagesGone

KEEP_ANALYSES = 32
KEEP_BYTES = 128 * 2**20
REMEMBER_EVICTED = 4096
TASKS = ("magnitude", "azimuth")
IMAGES = ("spectrogram", *(f"overlay-{task}" for task in TASKS), "direction-evidence")


def image_url(analysis_id: str, index: int, image: str) -> str:
    return f"/v2/analyses/{analysis_id}/windows/{index}/{image}.png"


@dataclass(frozen=True)
class KeptWindow:
    pixels: np.ndarray  # (C, H, W) uint8: the quantised model input
    cams: dict[str, np.ndarray] = field(default_factory=dict)  # task -> raw Grad-CAM map (with explain)
    bearing_deg: float | None = None

    @property
    def nbytes(self) -> int:
        return self.pixels.nbytes + sum(cam.nbytes for cam in self.cams.values())

    def image(self) -> np.ndarray:
        """The float image in [0, 1], bit for bit the one the model saw (see ``quantize``)."""
        return self.pixels.astype(np.float32) / 255.0


@dataclass(frozen=True)
class KeptAnalysis:
    manifest: Manifest
    windows: dict[int, KeptWindow | str]  # by index: the kept window, or why it was skipped

    @property
    def nbytes(self) -> int:
        return sum(w.nbytes for w in self.windows.values() if isinstance(w, KeptWindow))

    def render(self, index: int, image: str) -> bytes:
        """One of ``IMAGES`` for window ``index`` as PNG bytes; 404 saying why when there is none."""
        if index not in self.windows:
            raise ImageNotFound(f"this analysis has windows 0 to {len(self.windows) - 1}, not {index}")
        window = self.windows[index]
        if isinstance(window, str):
            raise ImageNotFound(f"window {index} was skipped ({window}) and has no images")
        if image == "spectrogram":
            return image_to_png(window.image(), self.manifest.input_spec)
        if image == "direction-evidence":
            png = direction_evidence_png(window.image(), self.manifest, window.bearing_deg)
            if png is None:
                raise ImageNotFound(f"model {self.manifest.ref} has no direction finder, so no direction evidence")
            return png
        task = image.removeprefix("overlay-")
        if task not in window.cams:
            raise ImageNotFound("no Grad-CAM was computed for this analysis: run /analyze with explain=true")
        return overlay_png(window.image(), window.cams[task])


class AnalysisCache:
    """Least recently used analyses within a count and a byte bound. Used from the event loop only."""

    def __init__(self, max_analyses: int = KEEP_ANALYSES, max_bytes: int = KEEP_BYTES,
                 remember_evicted: int = REMEMBER_EVICTED) -> None:
        self.max_analyses = max_analyses
        self.max_bytes = max_bytes
        self.remember_evicted = remember_evicted
        self._kept: OrderedDict[str, KeptAnalysis] = OrderedDict()
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def describe(self) -> str:
        return (f"kept in this service's memory with the images of its last {self.max_analyses} analyses "
                f"(at most {self.max_bytes / 2**20:g} MB), not across restarts; after that they answer 410 "
                "and /analyze must be run again")

    def put(self, analysis_id: str, analysis: KeptAnalysis) -> None:
        self._kept[analysis_id] = analysis
        self.nbytes += analysis.nbytes
        while len(self._kept) > 1 and (len(self._kept) > self.max_analyses or self.nbytes > self.max_bytes):
            old_id, old = self._kept.popitem(last=False)
            self.nbytes -= old.nbytes
            self._evicted[old_id] = None
            if len(self._evicted) > self.remember_evicted:
                self._evicted.popitem(last=False)

    def get(self, analysis_id: str) -> KeptAnalysis:
        if analysis_id in self._kept:
            self._kept.move_to_end(analysis_id)
            return self._kept[analysis_id]
        if analysis_id in self._evicted:
            raise ImagesGone(
                f"the images of analysis {analysis_id} are no longer kept: the service keeps those of its last "
                f"{self.max_analyses} analyses (at most {self.max_bytes / 2**20:g} MB); run /analyze again",
            )
        raise ImageNotFound(
            "no analysis with this id is kept here (ids come from /analyze with image_links=true; images "
            "are not kept across restarts); run /analyze again",
        )
