"""Model metadata: what is stored, what is served, and everything its manifest says."""

from __future__ import annotations

from fastapi import APIRouter

from model_store import Manifest, ModelRegistry

from ..deps import ModelStateDep, SettingsDep
from ..errors import error_responses, public_message
from ..runtime.state import ModelState
from ..schemas import ModelDetail, ModelSummary

router = APIRouter(prefix="/v2/models", tags=["models"])


def _summary(m: Manifest, serving: set[str]) -> dict:
    return dict(
        name=m.name, version=m.version, trained_on=m.trained_on, created_at=m.created_at,
        backbone=m.architecture.backbone, serving=m.ref in serving,
    )


def _serving(state: ModelState) -> set[str]:
    return set(state.models)


def heads_statement(m: Manifest) -> dict[str, str]:
    """What each head can know, in plain words: the model's own evaluation if its manifest carries it."""
    stored = m.metrics.get("what_each_head_can_know")
    if isinstance(stored, dict) and stored:
        return {str(k): str(v) for k, v in stored.items()}
    return {"all": "this model's manifest carries no evaluation of what its heads can know; treat its outputs as "
                   "unvalidated"}


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
        default=m.ref == state.default_ref,
        representation=m.input_spec.representation,
        input_layout=m.input_spec.describe_layout(),
        what_each_head_can_know=heads_statement(m),
        calibration=d["calibration"],
        labels=d["labels"], input_spec=d["input_spec"], architecture=d["architecture"], metrics=m.metrics,
        provenance=m.provenance, training=m.training, sha256=m.weights_sha256, weights_bytes=m.weights_bytes,
        inference=state.models[m.ref].inference.to_dict() if m.ref in state.models else None,
    )
