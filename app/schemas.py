"""Response bodies (also the OpenAPI documentation of the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

RESEARCH_NOTICE = (
    "Research tool, not an earthquake warning system. Outputs are model scores, not forecasts."
)


class ModelRef(BaseModel):
    name: str
    version: str
    trained_on: str = Field(description="simulated, real, mixed or untrained")
    representation: str = Field(description="input: power (H, D, Z power) or cross_spectral (power + cross-spectra)")
    notice: str
    selected_by: str | None = Field(None, description="/predict: why this model answered (the model field, the "
                                                      "input description the PNG carries, its layout or aspect ratio)")


class TaskOutput(BaseModel):
    label: str = Field(description="Normal when precursor_probability < 0.5, else the most probable event class")
    probabilities: dict[str, float] = Field(description="calibrated; P(class) = P(event) P(class | event), "
                                                        "P(Normal) = 1 - P(event)")
    bearing_deg: float | None = Field(None, description="azimuth of a direction-aware model: most probable bearing "
                                                        "(degrees clockwise from north) given an event")
    bearing_uncertainty_deg: float | None = Field(None, description="its circular standard deviation (degrees)")


class Explanation(BaseModel):
    target_class: str = Field(description="class whose score (log probability) was explained")
    map_shape: list[int] = Field(description="shape of the raw Grad-CAM map (the explained stage's feature grid)")
    map: list[list[float]] = Field(description="raw Grad-CAM values, ReLU'd, not normalised")
    overlay_png_base64: str | None = Field(
        None, description="heat map upsampled to the input size over the power spectrogram (absent with image_links)")
    overlay_url: str | None = Field(None, description="/analyze with image_links: where to GET that overlay PNG")
    direction_evidence_png_base64: str | None = Field(
        None, description="azimuth of a direction-aware model: where the bearing comes from (each cell's cross "
                          "spectrum projected on the bearing) over the power spectrogram; Grad-CAM cannot show it, "
                          "as the direction finder is not learnt")
    direction_evidence_url: str | None = Field(
        None, description="/analyze with image_links: where to GET the direction-evidence PNG")


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
    precursor_probability: float = Field(description="P(event window): 1 - P(Normal), calibrated")
    alarm: bool = Field(description="precursor_probability >= alarm_threshold (implies a non-Normal label)")
    alarm_threshold: float = Field(description="the model's operating point, chosen for a 5% false-alarm rate on "
                                               "simulated Normal windows")
    explanation: dict[str, Explanation] | None = None


class StationInfo(BaseModel):
    code: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class _KeepsNulls(BaseModel):
    """A body serialised without its unset optional fields, except ``NULLABLE`` ones: those are always present
    (null when there is nothing to say), so a client can tell "no baseline" from an old service."""

    NULLABLE: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _keep(self, handler: SerializerFunctionWrapHandler):  # no return annotation: the schema stays the model's
        data = handler(self)
        for name in self.NULLABLE:
            data.setdefault(name, None)
        return data


class BaselineModelInfo(BaseModel):
    fingerprint: str = Field(description="the input description of the model the scores were made with")
    windows: int = Field(description="the station's windows the scores come from")
    quantiles: dict[str, float] = Field(description="P(event) quantiles of those windows (p50, p90, p95, p99)")
    alarm_threshold: float | None = Field(
        description="the smallest P(event) whose background_p_value is at most false_alarm_rate (null: too few "
                    "windows for that rate)")
    false_alarm_rate: float


class BaselineWindows(BaseModel):
    total: int
    used: int
    dropped: dict[str, int] = Field(description="windows left out of the baseline, by reason")


class BaselineSummary(BaseModel):
    station: str
    version: str
    created_at: str
    sha256: str
    latitude: float | None = None
    longitude: float | None = None
    days: list[str] = Field(description="the days (UTC) of the windows used")
    first_day: str | None = None
    last_day: str | None = None
    sources: list[dict[str, Any]] = Field(description="the files it was made from: name, sha256, bytes, start, end")
    windows: BaselineWindows
    rules: dict[str, Any] = Field(description="how it was made: minimum windows, outlier rule, false-alarm rate")
    models: dict[str, BaselineModelInfo] = Field(description="per model (name:version): the station's scores")


class StationSummary(BaseModel):
    code: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    in_station_table: bool = Field(description="in the packaged BMKG station table")
    baseline_version: str | None = None
    baseline_created_at: str | None = None


class StationDetail(BaseModel):
    code: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    in_station_table: bool
    baseline: BaselineSummary | None = None
    served_models_without_scores: list[str] = Field(
        default_factory=list, description="served models the latest baseline has no scores for (made before they "
                                          "were served): make the baseline again to judge their windows by it")


class WindowResult(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("background_p_value",)

    index: int
    start: datetime
    end: datetime
    valid_fraction: float
    longest_gap_s: float
    skipped_reason: str | None = None
    outputs: dict[str, TaskOutput] | None = None
    precursor_probability: float | None = None
    alarm: bool | None = None
    background_p_value: float | None = Field(
        None, description="with a station baseline: the share of the station's ordinary windows scoring at least "
                          "this window's P(event) (conformal p-value; null without a baseline)")
    spectrogram_png_base64: str | None = None
    spectrogram_url: str | None = Field(None, description="with image_links: where to GET this window's spectrogram "
                                                          "PNG (kept for a while; see images_kept)")
    explanation: dict[str, Explanation] | None = None


class AnalyzeSummary(BaseModel):
    windows_total: int
    windows_analyzed: int
    windows_skipped: int
    max_precursor_probability: float | None
    max_precursor_window: int | None
    windows_in_alarm: int
    alarm_threshold: float | None = Field(
        description="without a baseline: the model's operating point on P(event); with one: the station's P(event) "
                    "at its false-alarm rate (null if its baseline is too small for that rate)")
    alarm_rule: str = Field(description="how alarm was decided for these windows, in plain words")
    false_alarm_rate: str = Field(description="what is known of the false-alarm rate at this station, in plain words")
    input_background: str | None = Field(
        None, description="a station-relative model: the background its power panel was made relative to (the "
                          "station's baseline, or the median of its training stations' without one)")
    magnitude_labels: dict[str, int]
    azimuth_labels: dict[str, int]


class AnalyzeResponse(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("baseline",)

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
    baseline: BaselineSummary | None = Field(
        None, description="the station's baseline the windows were judged by (null without one)")
    windows: list[WindowResult]
    summary: AnalyzeSummary
    images_kept: str | None = Field(None, description="with image_links: how long the image URLs stay valid")


class NetworkStation(_KeepsNulls):
    """One station's record and its timeline, as /analyze gives it."""

    NULLABLE: ClassVar[tuple[str, ...]] = ("baseline",)

    file: str = Field(description="the uploaded file this station's record came from")
    station: StationInfo
    position_from: str = Field(description="where its coordinates came from: stations_table (the uploaded "
                                           "stations CSV), station_table (the packaged BMKG table) or file_header")
    source_format: str
    start: datetime
    end: datetime
    sampling_interval_s: float
    resampled_to_s: float | None = Field(None, description="set when the data was decimated for the model")
    padded_s: float = Field(description="missing samples put before the record's first so that its windows start on "
                                        "the network's hop grid (0 for a record that starts on it)")
    baseline: BaselineSummary | None = Field(
        None, description="the station's baseline its windows were judged by (null without one)")
    windows: list[WindowResult]
    summary: AnalyzeSummary


class MagnitudeAnswer(BaseModel):
    label: str = Field(description="the most probable magnitude class given the source")
    probabilities: dict[str, float] = Field(description="calibrated for classes in equal proportion (see GET /v2/network)")


class EllipseKm(BaseModel):
    semi_major: float
    semi_minor: float
    azimuth_deg: float = Field(description="of the major axis, clockwise from north, [0, 180)")


class StationDistanceKm(BaseModel):
    code: str
    distance_km: float
    sd_km: float = Field(description="propagated from the ellipse's covariance (first order)")


class DroppedStation(BaseModel):
    code: str
    reason: str


class NetworkSource(BaseModel):
    latitude: float
    longitude: float
    ellipse_km: EllipseKm = Field(description="the confidence ellipse about the fix (95%)")
    confidence: float
    stations_used: list[str]
    residual_deg: dict[str, float] = Field(description="each station's bearing minus the bearing to the fix")
    residual_rms_deg: float
    consistency_p_value: float | None = Field(description="chi-square p-value of the bearings' deviance (3+ "
                                                          "stations; null with two, whose crossing fits exactly)")
    dropped: list[DroppedStation] = Field(default_factory=list)
    station_distances: list[StationDistanceKm] | None = Field(
        None, description="every station's distance from the fix (the primary source)")
    magnitude: MagnitudeAnswer | None = Field(None, description="other_sources: this source's magnitude answer")


class NetworkAnswer(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("source", "source_reason", "source_reason_code", "magnitude",
                                           "magnitude_reason")

    alarm: bool = Field(description="at least two coincident detections and a consistent fix")
    reason: str = Field(description="why there is (or is not) a network alarm, in plain words")
    stations_detecting: list[str]
    source: NetworkSource | None = Field(None, description="the fix of the most stations (null with the reason)")
    source_reason: str | None = None
    source_reason_code: str | None = Field(
        None, description="too_few_detections, too_few_stations, parallel, diverging, inconsistent, out_of_range, "
                          "ellipse_too_large or amplitude_inconsistent")
    magnitude: MagnitudeAnswer | None = None
    magnitude_reason: str | None = None
    other_sources: list[NetworkSource] = Field(
        default_factory=list, description="further sources fixed in the same window from other stations "
                                          "(overlapping emissions), each with its magnitude")


class NetworkStationWindow(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("background_p_value", "bearing_deg", "bearing_kappa", "bearing_sd_deg",
                                           "amplitude_nt", "magnitude_given_event")

    code: str
    latitude: float
    longitude: float
    detected: bool = Field(description="the window's alarm, as the station's timeline shows it")
    precursor_probability: float | None = None
    background_p_value: float | None = None
    bearing_deg: float | None = Field(None, description="station to source, clockwise from north")
    bearing_kappa: float | None = Field(None, description="the bearing head's von Mises concentration |m|")
    bearing_sd_deg: float | None = Field(None, description="its circular standard deviation as the network weighs it "
                                                           "(after the network model's bearing calibration)")
    amplitude_nt: float | None = Field(None, description="received band amplitude: RMS of the 0.01-0.1 Hz "
                                                         "horizontal field coherent with Z along the bearing (nT)")
    magnitude_given_event: MagnitudeAnswer | None = Field(None, description="what this one station's model says")


class AbsentStation(BaseModel):
    code: str
    reason: str


class NetworkWindowResult(BaseModel):
    index: int
    start: datetime
    end: datetime
    stations: list[NetworkStationWindow] = Field(description="the stations whose window was analysed")
    absent: list[AbsentStation] = Field(description="stations whose window is not in this network, and why")
    network: NetworkAnswer


class NetworkSummary(BaseModel):
    stations: int
    windows_total: int
    windows_in_alarm: int = Field(description="common windows with a network alarm")
    sources_fixed: int
    most_detecting_window: int | None = Field(description="index of the window where most stations detect")


class NetworkResponse(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("network_model", "network_model_reason")

    id: str
    model: ModelRef
    window_hours: float
    hop_hours: float
    hop_origin: datetime = Field(description="windows start at this UTC midnight plus whole hops, at every station")
    network_model: dict[str, Any] | None = Field(
        None, description="the fitted network model used (bearing calibration, magnitude model): version, sha256, "
                          "the station model it was fitted on; GET /v2/network says what it can know")
    network_model_reason: str | None = Field(None, description="why no network model is used (magnitude is then null)")
    network_settings: dict[str, Any] = Field(description="the network stage's thresholds")
    stations: list[NetworkStation]
    windows: list[NetworkWindowResult]
    summary: NetworkSummary


class NetworkDocument(_KeepsNulls):
    NULLABLE: ClassVar[tuple[str, ...]] = ("network_model", "network_model_reason")

    station_model: str | None = Field(description="the default station model whose features a network model must "
                                                  "be fitted on")
    network_model: dict[str, Any] | None = Field(
        None, description="the network model /analyze/network uses with the default station model: its version, "
                          "sha256, bearing calibration, magnitude model (classes, balanced accuracy, ceiling, what it "
                          "was fitted on), and its evaluation's headline figures")
    network_model_reason: str | None = None
    network_settings: dict[str, Any]
    what_it_can_know: dict[str, str]
    limits: dict[str, Any]


class ModelSummary(BaseModel):
    name: str
    version: str
    trained_on: str | None = None
    created_at: str | None = None
    backbone: str | None = None
    serving: bool
    error: str | None = Field(None, description="why this stored model cannot be read (only then present)")


class ModelDetail(ModelSummary):
    default: bool = Field(description="answers /analyze and PNGs that several served models could read")
    representation: str
    input_layout: str = Field(description="the PNG /predict expects for this model")
    what_each_head_can_know: dict[str, str] = Field(description="plain words, from the model's own evaluation")
    calibration: dict[str, Any] = Field(description="temperatures per head and the alarm operating point")
    labels: dict[str, list[str]]
    input_spec: dict[str, Any]
    architecture: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    training: dict[str, Any]
    sha256: str
    weights_bytes: int
    inference: dict[str, Any] | None = Field(
        None, description="served models: the path that runs it (onnxruntime or eager), whether the eager model is "
                          "channels-last, why, its largest probability difference from eager fp32 at load, torch's threads, how many "
                          "batches run at once, the most images per forward pass with the load-time images/s by batch size that chose it, "
                          "and which CPUs a pass's threads run on (or why they are not pinned)")


class Health(BaseModel):
    status: str = Field(description="alive; loading, ready or failed; saturated (only with "
                                    "PRECURSOR_READYZ_REPORTS_SATURATION, while the inference queue is full)")
    reason: str | None = None
    model: str | None = Field(None, description="the default model, once ready")
    models: list[str] | None = Field(None, description="every served model, once ready")
