"""Class labels for both heads and the geometry that assigns them.

Magnitude: Large (M >= 6), Medium (5 <= M < 6), Moderate (4 <= M < 5), and Normal for windows with
no qualifying event. Azimuth: the bearing from station to epicentre in eight 45-degree sectors centred
on the compass points (N covers [337.5, 22.5)), plus Normal.
"""

from __future__ import annotations

import math

from .compass import sector_centre_deg, sector_index

MAGNITUDE_CLASSES = ("Large", "Medium", "Moderate", "Normal")
AZIMUTH_CLASSES = ("N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal")
NORMAL = "Normal"
TASKS = {"magnitude": MAGNITUDE_CLASSES, "azimuth": AZIMUTH_CLASSES}

MAGNITUDE_EDGES = ((6.0, "Large"), (5.0, "Medium"), (4.0, "Moderate"))
EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


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


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine on a sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from point 1 (station) to point 2 (epicentre), in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def angular_difference_deg(a: float, b: float) -> float:
    """Smallest absolute difference between two bearings, in [0, 180]."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)
