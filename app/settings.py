"""The service's one configuration object, read from ``PRECURSOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store import PACKAGED_STORE

ENV_PREFIX = "PRECURSOR_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    model_store: Path = Field(PACKAGED_STORE, description="Directory of stored models")
    model: str | None = Field(None, description="Default model name[:version]; empty = the store's DEFAULT")
    models: list[str] | None = Field(
        None, description="Further models to serve (JSON list of name[:version]); unset = every model name in the store"
    )
    max_upload_mb: float = Field(64.0, gt=0, description="Largest accepted request body, in MB")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (JSON list) whose browser pages may call the service: CORS and the cross-site check",
    )
    api_key: SecretStr | None = Field(
        None, description="When set, POST routes need 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
    )
    api_key_on_health: bool = Field(False, description="Also require the API key on the health routes")
    api_key_on_metrics: bool = Field(False, description="Also require the API key on /metrics")
    log_level: LogLevel = Field("INFO", description="Python logging level")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or as one JSON object each")
    torch_threads: int = Field(2, ge=1, description="Threads torch may use for one forward pass")
    max_batch_size: int = Field(16, ge=1, description="Most images one forward pass takes")
    batch_wait_ms: float = Field(
        0.0, ge=0, description="Extra wait to fill a batch; 0 = run at once (requests that queue meanwhile form the next batch)"
    )
    max_analyze_windows: int = Field(512, ge=1, description="Most windows one /analyze request may cut")
    max_parallel_decodes: int = Field(
        2, ge=1, description="Most uploads decoded at once (a 4096x4096 PNG or a large station file takes a few hundred MB)"
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

    @field_validator("api_key", "model", "models", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
