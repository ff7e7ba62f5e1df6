"""Dependencies as ``Annotated`` aliases for the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .errors import ServiceError
from .metrics import Metrics
from .runtime.analyses import AnalysisCache
from .runtime.baselines import BaselineCache
from .runtime.decoding import Decoder
from .runtime.network import NetworkModels
from .runtime.state import ModelState
from .settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_decoder(request: Request) -> Decoder:
    return request.app.state.decoder


def get_analyses(request: Request) -> AnalysisCache:
    return request.app.state.analyses


def get_baselines(request: Request) -> BaselineCache:
    return request.app.state.baselines


def get_network_models(request: Request) -> NetworkModels:
    return request.app.state.network


def get_model_state(request: Request) -> ModelState:
    return request.app.state.model


def get_ready_model(request: Request) -> ModelState:
    state: ModelState = request.app.state.model
    if not state.ready:
        retry = {"Retry-After": "5"} if state.status == "loading" else None  # a failed load needs an operator
        raise ServiceError(503, f"model not ready: {state.reason}", retry)
    return state


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
AnalysesDep = Annotated[AnalysisCache, Depends(get_analyses)]
BaselinesDep = Annotated[BaselineCache, Depends(get_baselines)]
NetworkModelsDep = Annotated[NetworkModels, Depends(get_network_models)]
ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
ReadyModelDep = Annotated[ModelState, Depends(get_ready_model)]
