"""Form fields that several routes take, declared once: the same name, limits and description everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form

from ..validators import PlainDecimal

FormatField = Annotated[
    str | None, Form(max_length=16, description=(
        "a supported format name (any case; it applies to every file sent); detected if omitted"))
]
HopHoursField = Annotated[
    float | None,
    PlainDecimal,
    Form(gt=0, le=24, allow_inf_nan=False,
         description="hop between windows in hours, at least 10 minutes (0.1667) after rounding to whole samples "
                     "(default: the model's); windows start at the record's first sample, or for several stations "
                     "at UTC midnight of the first day, plus whole hops"),
]
ModelField = Annotated[
    str | None, Form(max_length=80, description="served model name[:version] to use (default: the default model)")
]
BaselineField = Annotated[
    str | None, Form(pattern=r"^(?i:none|latest)$", description=(
        "latest (the default): judge each station's windows against its latest baseline, if it has one "
        "(background_p_value, alarms at its false-alarm rate); none: by the model alone"))
]
