"""GET the images of an analysis made with ``image_links=true`` (see :mod:`app.runtime.analyses`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..deps import AnalysesDep
from ..errors import error_responses
from ..runtime.analyses import IMAGES
from ..security import guarded
from ..validators import PlainIndex

router = APIRouter(prefix="/v2/analyses", tags=["analyze"])

ImageName = Literal[IMAGES]  # type: ignore[valid-type]

_RESPONSES = error_responses(400, 404, 410)
_RESPONSES[404] = {**_RESPONSES[404], "description": "No such analysis kept here, no such window, or no such "
                   "image for it (a skipped window; no explain; no direction finder): the message says which"}
_RESPONSES[200] = {"content": {"image/png": {}}, "description": "The PNG, as /analyze would have inlined it"}


@router.get(
    "/{analysis_id}/windows/{index}/{image}.png", response_class=Response, responses=_RESPONSES,
    **guarded("results"),
)
async def analysis_image(
    analyses: AnalysesDep,
    analysis_id: Annotated[str, Path(max_length=64, description="the id of an /analyze response made with image_links")],
    index: Annotated[int, PlainIndex, Path(ge=0, description="the window's index")],
    image: Annotated[ImageName, Path(description="spectrogram (the model input PNG, postable to /predict), a head's "
                                                 "Grad-CAM overlay, or the bearing's direction evidence")],
) -> Response:
    """One window's spectrogram or overlay PNG, kept from a recent /analyze with ``image_links=true``."""
    kept = analyses.get(analysis_id)
    png = await run_in_threadpool(kept.render, index, image)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600, immutable"})
