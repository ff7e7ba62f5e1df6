"""Model metadata: what is stored, what is served, and everything its manifest says."""

from __future__ import annotations

from fastapi import APIRouter

from model_store import Manifest, ModelRegistry

from ..deps import ModelStateDep, SettingsDep
from ..errors import error_responses, public_message
from ..schemas import ModelDetail, ModelSummary

router = APIRouter(prefix="/v2/models", tags=["models"])


def _summary(m: Manifest, serving_ref: str | None) -> dict:
    return dict(
        name=m.name, version=m.version, trained_on=m.trained_on, created_at=m.created_at,
        backbone=m.architecture.backbone, serving=m.ref == serving_ref,
    )


def _serving(state) -> str | None:
    return state.loaded.manifest.ref if state.loaded else None


@router.get("", response_model=list[ModelSummary], response_model_exclude_none=True)
async def list_models(settings: SettingsDep, state: ModelStateDep) -> list[ModelSummary]:
    """Every stored model version; one whose manifest cannot be read comes with the reason in ``error``."""
    serving = _serving(state)
    return [
        ModelSummary(**_summary(s.manifest, serving)) if s.manifest is not None
        else ModelSummary(name=s.name, version=s.version, serving=False,
                          error=public_message(s.error or "unreadable", settings.model_store))
        for s in ModelRegistry(settings.model_store).scan()
    ]


@router.get("/{name}", response_model=ModelDetail, responses=error_responses(404, 409))
async def model_detail(name: str, settings: SettingsDep, state: ModelStateDep, version: str | None = None) -> ModelDetail:
    """One model's manifest (newest version unless ``version`` or ``name:version`` is given)."""
    ref = f"{name}:{version}" if version else name
    m = ModelRegistry(settings.model_store).manifest(ref)
    d = m.to_dict()
    return ModelDetail(
        **_summary(m, _serving(state)),
        labels=d["labels"], input_spec=d["input_spec"], architecture=d["architecture"], metrics=m.metrics,
        provenance=m.provenance, training=m.training, sha256=m.weights_sha256, weights_bytes=m.weights_bytes,
    )
