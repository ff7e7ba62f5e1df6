"""Response bodies (also the OpenAPI documentation of the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

RESEARCH_NOTICE = (
    "Research tool, not an earthquake warning system. Outputs are model scores, not forecasts."
)


class ModelRef(BaseModel):
    name: str
    version: str
    trained_on: str = Field(description="simulated, real, mixed or untrained")
    notice: str


class TaskOutput(BaseModel):
    label: str
    probabilities: dict[str, float]


class Explanation(BaseModel):
    target_class: str = Field(description="class whose score was explained")
    map_shape: list[int] = Field(description="shape of the raw Grad-CAM map (last-stage feature grid)")
    map: list[list[float]] = Field(description="raw Grad-CAM values, ReLU'd, not normalised")
    overlay_png_base64: str = Field(description="heat map upsampled to the input size over the spectrogram")


class InputInfo(BaseModel):
    width: int
    height: int
    resized: bool
    note: str | None = None


class PredictResponse(BaseModel):
    id: str
    model: ModelRef
    input: InputInfo
    outputs: dict[str, TaskOutput]
    precursor_probability: float = Field(description="1 - P(Normal) of the magnitude head")
    explanation: dict[str, Explanation] | None = None


class StationInfo(BaseModel):
    code: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class WindowResult(BaseModel):
    index: int
    start: datetime
    end: datetime
    valid_fraction: float
    longest_gap_s: float
    skipped_reason: str | None = None
    outputs: dict[str, TaskOutput] | None = None
    precursor_probability: float | None = None
    spectrogram_png_base64: str | None = None
    explanation: dict[str, Explanation] | None = None


class AnalyzeSummary(BaseModel):
    windows_total: int
    windows_analyzed: int
    windows_skipped: int
    max_precursor_probability: float | None
    max_precursor_window: int | None
    magnitude_labels: dict[str, int]
    azimuth_labels: dict[str, int]


class AnalyzeResponse(BaseModel):
    id: str
    model: ModelRef
    station: StationInfo
    source_format: str
    start: datetime
    end: datetime
    sampling_interval_s: float
    resampled_to_s: float | None = Field(None, description="set when the data was decimated for the model")
    window_hours: float
    hop_hours: float
    windows: list[WindowResult]
    summary: AnalyzeSummary


class ModelSummary(BaseModel):
    name: str
    version: str
    trained_on: str | None = None
    created_at: str | None = None
    backbone: str | None = None
    serving: bool
    error: str | None = Field(None, description="why this stored model cannot be read (only then present)")


class ModelDetail(ModelSummary):
    labels: dict[str, list[str]]
    input_spec: dict[str, Any]
    architecture: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    training: dict[str, Any]
    sha256: str
    weights_bytes: int


class Health(BaseModel):
    status: str
    reason: str | None = None
    model: str | None = None
