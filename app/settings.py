"""The service's one configuration object, read from ``PRECURSOR_*`` environment variables."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store import PACKAGED_STORE
from model_store.inference import InferenceConfig
from model_store.inference.onnx_cache import default_cache_dir

ENV_PREFIX = "PRECURSOR_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    model_store: Path = Field(PACKAGED_STORE, description="Directory of stored models")
    model: str | None = Field(None, description="Default model name[:version]; empty = the store's DEFAULT")
    models: list[str] | None = Field(
        None, description="Further models to serve (JSON list of name[:version]); unset = every model name in the store"
    )
    station_store: Path = Field(
        Path("station_store"), description="Directory of station baselines (every replica reads the same one: a "
        "shared volume); made on first write",
    )
    station_store_poll_s: float = Field(
        5.0, ge=0, description="Seconds a replica trusts what it last read of a station's baselines: a baseline "
        "made or deleted elsewhere is used within this long",
    )
    baseline_model: str | None = Field(
        "station", description="The model (name[:version]) that answers /analyze for a station with a baseline "
        "when the request names none, if it is served and the baseline has its scores: a station-relative model, "
        "whose input is made against the station's own background (docs/stations.md); otherwise the default model",
    )
    baseline_false_alarm_rate: float = Field(
        0.05, gt=0, lt=1, description="With a station baseline, a window is in alarm when its background_p_value "
        "is at most this (its false-alarm rate at that station, when the baseline is representative)",
    )
    baseline_min_windows: int = Field(
        10, ge=2, description="Usable windows a new baseline needs (3 days of 6-hour windows give 12)",
    )
    max_upload_mb: float = Field(64.0, gt=0, description="Largest accepted request body, in MB")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (JSON list) whose browser pages may call the service: CORS and the cross-site check",
    )
    api_key: SecretStr | None = Field(
        None, description="When set, every route that takes uploads, changes stored data or returns results (all but "
                          "the health routes, /metrics, the page and the API docs) needs 'Authorization: Bearer <key>' "
                          "or 'X-API-Key: <key>'"
    )
    api_key_on_health: bool = Field(False, description="Also require the API key on the health routes")
    api_key_on_metrics: bool = Field(False, description="Also require the API key on /metrics")
    log_level: LogLevel = Field("INFO", description="Python logging level")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or as one JSON object each")
    torch_threads: int = Field(
        2, ge=1, description="Threads for one forward pass (ONNX Runtime's too; torch keeps one when every model is on the ONNX path)"
    )
    inference_workers: int = Field(
        2, ge=1, description="Batches that may run at once, each on its own inference thread, when every served "
        "model is on the ONNX path (ONNX Runtime shares its torch_threads threads between them: a lone batch still "
        "gets all of them); a service with an eager model runs one batch at a time",
    )
    max_batch_size: int = Field(
        16, ge=1, description="Most images one forward pass takes (and /analyze's chunk of windows)"
    )
    batch_size_autotune: bool = Field(
        True, description="At load, time each model at batch sizes 1, 2, 4, ... up to max_batch_size and batch at "
        "most the size that predicts the most images per second on this machine (reported in /v2/models/{name})",
    )
    batch_wait_ms: float = Field(
        0.0, ge=0, description="Extra wait to fill a batch; 0 = run at once (requests that queue meanwhile form the next batch)"
    )
    inference_path: Literal["onnx", "eager"] = Field(
        "onnx", description="onnx: ONNX Runtime runs each model (exported once, cached, checked against eager fp32 at "
        "load; a model falls back to eager torch, saying why, without onnxruntime or if the export or the check fails); "
        "eager: torch only",
    )
    onnx_cache_dir: Path | None = Field(
        None, description="Directory for exported ONNX graphs (must be this user's and writable by no one else); "
        "unset = <temp dir>/precursor-onnx-<uid>",
    )
    onnx_spin_wait: bool = Field(
        True, description="ONNX Runtime's threads spin briefly for more work (lower latency; false leaves the cores "
        "to request handling between batches)",
    )
    onnx_spin_us: int = Field(
        50, ge=-1, description="How long (microseconds) an idle ONNX Runtime thread spins before it sleeps: long enough "
        "to bridge the gaps inside a forward pass, short enough not to hold a core after it; -1 = ONNX Runtime's "
        "default (a count of spins, which held a core long after each batch)",
    )
    pin_threads: Literal["auto", "on", "off"] = Field(
        "auto", description="Run ONNX Runtime's worker threads on the CPUs after the first this process may use, and "
        "the inference thread of a batch running alone on the first (so a pass's threads never share a core): "
        "auto = only when the process may use exactly as many CPUs as a pass has threads; on = whenever it may use "
        "enough; off = never",
    )
    channels_last: bool = Field(False, description="Eager path: run the torch model in channels-last memory format")
    max_queued_images: int = Field(
        128, ge=1, description="Most images admitted and waiting for the model, all requests together; past it 503 "
        "with Retry-After (a request with more images is admitted only into an empty queue)",
    )
    request_deadline_s: float = Field(
        30.0, gt=0, description="Seconds after its upload has arrived that a request's queued work is dropped (503)"
    )
    readyz_reports_saturation: bool = Field(
        False, description="/readyz answers 503 (status 'saturated') while the inference queue is full, so an "
        "orchestrator stops routing to this replica",
    )
    malloc_arenas: int = Field(
        2, ge=0, description="glibc malloc arenas, set at start (fewer arenas hold fewer free pages after a burst); "
        "0 = the C library's default (8 per core)",
    )
    max_analyze_windows: int = Field(512, ge=1, description="Most windows one /analyze request may cut")
    max_parallel_decodes: int = Field(
        2, ge=1, description="Most uploads decoded at once (a 4096x4096 PNG or a large station file takes a few hundred MB)"
    )
    decode_isolation: bool = Field(
        True, description="Read uploads (station files, PNGs) in worker processes, so a crash in the C code that parses "
        "them (numpy, Pillow, zlib, cdflib, ObsPy) fails that request with a 422 instead of ending the service",
    )
    decode_processes: int = Field(
        1, ge=1, description="Decode worker processes (each reads one upload at a time and holds about 40 MB when "
        "idle); with decode_isolation",
    )
    decode_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a decode worker may take over one upload before it is killed and the upload "
        "refused (422); with decode_isolation",
    )
    decode_worker_max_rss_mb: float = Field(
        300.0, gt=0, description="A decode worker that still holds more than this after a request (after giving free "
        "pages back) is replaced by a fresh one",
    )
    header_timeout_s: float = Field(10.0, gt=0, description="Seconds a client has to send a request's line and headers")
    body_timeout_s: float = Field(60.0, gt=0, description="Seconds a client has to send a request's whole body (408 after)")
    keep_alive_s: float = Field(5.0, gt=0, description="Seconds an idle keep-alive connection stays open")
    max_connections: int = Field(100, ge=1, description="Most open connections; requests beyond get 503")
    shutdown_timeout_s: float = Field(
        15.0, gt=0, description="Seconds SIGTERM waits for in-flight requests before cancelling them and exiting"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_key", "model", "models", "onnx_cache_dir", "baseline_model", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def onnx_cache_path(self) -> Path:
        return self.onnx_cache_dir or default_cache_dir()

    def inference_config(self, intra_op_affinities: str | None = None) -> InferenceConfig:
        """How the models run (:mod:`model_store.inference`), from these settings."""
        return InferenceConfig(path=self.inference_path, threads=self.torch_threads, spin_wait=self.onnx_spin_wait,
                               spin_us=self.onnx_spin_us, channels_last=self.channels_last,
                               onnx_cache_dir=self.onnx_cache_path, intra_op_affinities=intra_op_affinities)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def default_text(name: str) -> str:
    """Setting ``name``'s default as ``python -m app --help`` and docs/operations.md show it."""
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == PACKAGED_STORE:
        return "the installed package's model_store/models"
    if isinstance(value, list):
        return "[]"
    return str(value)


#: docs/operations.md holds the settings table between these lines.
DOC_MARKERS = ("<!-- settings:begin -->", "<!-- settings:end -->")


def settings_markdown() -> str:
    """Every ``PRECURSOR_*`` setting with its default and description, as a Markdown table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {cell(default_text(name))} | {cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> None:
    """``python -m app.settings``: print the settings table; ``python -m app.settings FILE``: put it between
    FILE's settings markers (``python -m app.settings docs/operations.md``)."""
    if not argv:
        sys.stdout.write(settings_markdown())
        return
    path = Path(argv[0])
    begin, end = DOC_MARKERS
    head, rest = path.read_text().split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{settings_markdown()}{end}{tail}")


if __name__ == "__main__":
    main(sys.argv[1:])
