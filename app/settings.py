"""The service's one configuration object, read from ``PRECURSOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_store import PACKAGED_STORE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRECURSOR_", env_file=None, extra="ignore")

    model_store: Path = Field(PACKAGED_STORE, description="Directory of stored models")
    model: str | None = Field(None, description="Model reference name[:version]; None = the store's default")
    max_upload_mb: float = Field(64.0, gt=0, description="Largest accepted request body, in MB")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list)")
    log_level: str = Field("INFO", description="Python logging level")
    torch_threads: int = Field(2, ge=1, description="Threads torch may use for one forward pass")
    max_batch_size: int = Field(16, ge=1, description="Most images one forward pass takes")
    batch_wait_ms: float = Field(
        0.0, ge=0, description="Extra wait to fill a batch; 0 = run at once (requests that queue meanwhile form the next batch)"
    )
    max_analyze_windows: int = Field(512, ge=1, description="Most windows one /analyze request may cut")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
