"""Class labels for both heads: magnitude classes and compass sectors.

Magnitude: Large (M >= 6), Medium (5 <= M < 6), Moderate (4 <= M < 5), and Normal for windows with
no qualifying event. Azimuth: the bearing from station to epicentre in eight 45-degree sectors centred
on the compass points (N covers [337.5, 22.5)), plus Normal. Distances and bearings on the Earth are in
:mod:`model_store.geodesy`.
"""

from __future__ import annotations

from .compass import sector_centre_deg, sector_index

MAGNITUDE_CLASSES = ("Large", "Medium", "Moderate", "Normal")
AZIMUTH_CLASSES = ("N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal")
NORMAL = "Normal"
TASKS = {"magnitude": MAGNITUDE_CLASSES, "azimuth": AZIMUTH_CLASSES}

MAGNITUDE_EDGES = ((6.0, "Large"), (5.0, "Medium"), (4.0, "Moderate"))


def magnitude_class(magnitude: float) -> str | None:
    """Class of an event of this magnitude, or None below M4 (too small to label)."""
    for edge, label in MAGNITUDE_EDGES:
        if magnitude >= edge:
            return label
    return None


def azimuth_class(bearing_deg: float) -> str:
    """Compass sector of a bearing in degrees clockwise from north."""
    return AZIMUTH_CLASSES[sector_index(bearing_deg)]


def azimuth_class_centre_deg(label: str) -> float | None:
    """Centre bearing of an azimuth class, None for Normal."""
    return None if label == NORMAL else sector_centre_deg(AZIMUTH_CLASSES.index(label))
