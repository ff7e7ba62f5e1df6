"""Positions on the Earth: distances, bearings, destinations and a local plane, on a sphere.

The Earth is a sphere of the IUGG mean radius (6371.0088 km). Every function takes degrees and
kilometres and accepts scalars or numpy arrays (broadcast together); scalars in give a float out.

* :func:`distance_km`: great-circle distance (haversine, well conditioned at short range).
* :func:`initial_bearing_deg`: the initial great-circle bearing from point 1 to point 2, clockwise from
  north in [0, 360). (Not :func:`model_store.direction.bearing_deg`, which reads a bearing off a
  (north, east) vector.)
* :func:`destination`: the point a given distance along a great circle leaving at a given bearing.
* :func:`angular_difference_deg` and :func:`wrap_deg`: arithmetic on bearings.
* :class:`LocalPlane`: the azimuthal-equidistant projection about a reference point, forward and
  inverse, in km east and north of it.

Why a sphere and a local azimuthal-equidistant plane rather than the ellipsoid (GeographicLib): the
network stage works over 30-300 km, where the sphere's distances differ from the ellipsoid's by at most
about 0.6% and its bearings by at most about 0.2 degrees, both far below what ULF bearings resolve
(calibrated uncertainties of 10-40 degrees) and below the 1 km a fix can claim; and it needs no new
dependency. The azimuthal-equidistant projection keeps distances and bearings from its centre exact on
the sphere; elsewhere its scale differs from 1 by (c^2)/6 for a point an angle c from the centre
(4e-5 at 100 km, 4e-4 at 300 km) and so do its angles, once the direction of local north at a point
(:meth:`LocalPlane.north_deg`, the grid convergence) is taken into account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

ArrayLike = float | np.ndarray


# Each formula is written once against a small namespace of functions: ``math`` for plain numbers (the
# labeller and the simulator call these once per station and event, where numpy's per-call overhead is
# 8x), numpy for arrays. For numbers the results are those of the ``math`` formulas in labels.py before
# this module existed, bit for bit.
_MATH = SimpleNamespace(sin=math.sin, cos=math.cos, arcsin=math.asin, arctan2=math.atan2, sqrt=math.sqrt,
                        radians=math.radians, degrees=math.degrees, minimum=min, abs=abs, hypot=math.hypot,
                        clip=lambda x, lo, hi: min(hi, max(lo, x)))


def _xp(*args: Any) -> Any:
    """``math``'s namespace when every argument is a plain number, else numpy (arrays converted)."""
    for a in args:
        if not isinstance(a, (int, float)):
            return np
    return _MATH


def _out(x: Any) -> ArrayLike:
    """A 0-d result as a float, an array as it is."""
    if isinstance(x, float):
        return x
    return float(x) if np.ndim(x) == 0 else x


def distance_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> ArrayLike:
    """Great-circle distance in km (haversine on the sphere)."""
    xp = _xp(lat1, lon1, lat2, lon2)
    if xp is np:
        lat1, lon1, lat2, lon2 = map(np.asarray, (lat1, lon1, lat2, lon2))
    p1, p2 = xp.radians(lat1), xp.radians(lat2)
    dp, dl = p2 - p1, xp.radians(lon2 - lon1)
    a = xp.sin(dp / 2) ** 2 + xp.cos(p1) * xp.cos(p2) * xp.sin(dl / 2) ** 2
    return _out(2 * EARTH_RADIUS_KM * xp.arcsin(xp.minimum(1.0, xp.sqrt(a))))


def initial_bearing_deg(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> ArrayLike:
    """Initial great-circle bearing from point 1 (e.g. a station) to point 2 (e.g. an epicentre), in [0, 360)."""
    xp = _xp(lat1, lon1, lat2, lon2)
    if xp is np:
        lat1, lon1, lat2, lon2 = map(np.asarray, (lat1, lon1, lat2, lon2))
    p1, p2 = xp.radians(lat1), xp.radians(lat2)
    dl = xp.radians(lon2 - lon1)
    y = xp.sin(dl) * xp.cos(p2)
    x = xp.cos(p1) * xp.sin(p2) - xp.sin(p1) * xp.cos(p2) * xp.cos(dl)
    return _out(xp.degrees(xp.arctan2(y, x)) % 360.0)


def destination(lat: ArrayLike, lon: ArrayLike, bearing_deg: ArrayLike, distance: ArrayLike
                ) -> tuple[ArrayLike, ArrayLike]:
    """(latitude, longitude) reached from (lat, lon) along a great circle leaving at ``bearing_deg``
    (clockwise from north) after ``distance`` km; longitude in [-180, 180)."""
    xp = _xp(lat, lon, bearing_deg, distance)
    if xp is np:
        lat, lon, bearing_deg, distance = map(np.asarray, (lat, lon, bearing_deg, distance))
    p1, l1 = xp.radians(lat), xp.radians(lon)
    t, d = xp.radians(bearing_deg), distance / EARTH_RADIUS_KM
    sin_p2 = xp.clip(xp.sin(p1) * xp.cos(d) + xp.cos(p1) * xp.sin(d) * xp.cos(t), -1.0, 1.0)
    p2 = xp.arcsin(sin_p2)
    l2 = l1 + xp.arctan2(xp.sin(t) * xp.sin(d) * xp.cos(p1), xp.cos(d) - xp.sin(p1) * sin_p2)
    return _out(xp.degrees(p2)), _out((xp.degrees(l2) + 540.0) % 360.0 - 180.0)


def angular_difference_deg(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    """Smallest absolute difference between two bearings, in [0, 180]."""
    xp = _xp(a, b)
    d = xp.abs(a - b if xp is _MATH else np.subtract(a, b)) % 360.0
    return _out(xp.minimum(d, 360.0 - d))


def wrap_deg(angle: ArrayLike) -> ArrayLike:
    """An angle (or a difference of bearings) wrapped into [-180, 180)."""
    x = angle if _xp(angle) is _MATH else np.asarray(angle)
    return _out((x + 180.0) % 360.0 - 180.0)


@dataclass(frozen=True)
class LocalPlane:
    """The azimuthal-equidistant projection about (latitude, longitude): a point goes to
    (east, north) = d (sin a, cos a) km, d and a its great-circle distance and initial bearing from the
    centre. Exact along lines through the centre; see the module's docstring for the distortion elsewhere.
    """

    latitude: float
    longitude: float

    def forward(self, lat: ArrayLike, lon: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        """(east_km, north_km) of points given in degrees."""
        d = np.asarray(distance_km(self.latitude, self.longitude, lat, lon))
        a = np.radians(initial_bearing_deg(self.latitude, self.longitude, lat, lon))
        return _out(d * np.sin(a)), _out(d * np.cos(a))

    def inverse(self, east_km: ArrayLike, north_km: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        """(latitude, longitude) of points given in km east and north of the centre."""
        a = np.degrees(np.arctan2(east_km, north_km))
        return destination(self.latitude, self.longitude, a, np.hypot(east_km, north_km))

    def north_deg(self, lat: ArrayLike, lon: ArrayLike, step_km: float = 0.1) -> ArrayLike:
        """Direction of local north at a point, as a bearing on the plane (clockwise from the plane's
        north, the centre's meridian): the grid convergence. A bearing b measured at that point runs along
        b + north_deg on the plane. Central difference over +-``step_km`` along the meridian."""
        lat_n, lon_n = destination(lat, lon, 0.0, step_km)
        lat_s, lon_s = destination(lat, lon, 180.0, step_km)
        xn, yn = self.forward(lat_n, lon_n)
        xs, ys = self.forward(lat_s, lon_s)
        return wrap_deg(np.degrees(np.arctan2(np.subtract(xn, xs), np.subtract(yn, ys))))


__all__ = ["EARTH_RADIUS_KM", "LocalPlane", "angular_difference_deg", "destination", "distance_km",
           "initial_bearing_deg", "wrap_deg"]
