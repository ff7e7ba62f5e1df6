"""Distances, bearings, destinations and the local plane: known values, the formulas that labels.py held
before (same numbers), and the plane's round trip and accuracy over a network's scale."""

import math

import numpy as np
import pytest

from model_store.geodesy import (
    EARTH_RADIUS_KM,
    LocalPlane,
    angular_difference_deg,
    destination,
    distance_km,
    initial_bearing_deg,
    wrap_deg,
)


# ---- the formulas as model_store/labels.py held them (commit e773d98), kept here as the reference
def _old_distance_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _old_bearing_deg(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _old_angular_difference_deg(a, b):
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def _points(n, seed=0):
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-89, 89, (2, n))
    lon = rng.uniform(-180, 180, (2, n))
    near = rng.uniform(size=n) < 0.5  # half of them within a few hundred km of each other
    lat[1, near] = np.clip(lat[0, near] + rng.normal(0, 1.5, near.sum()), -89, 89)
    lon[1, near] = lon[0, near] + rng.normal(0, 1.5, near.sum())
    return lat[0], lon[0], lat[1], lon[1]


def test_known_values():
    # one degree of longitude on the equator, due east
    assert distance_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)
    assert distance_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert distance_km(0, 0, 90, 0) == pytest.approx(math.pi / 2 * EARTH_RADIUS_KM)
    assert initial_bearing_deg(0, 0, 0, 1) == pytest.approx(90.0)
    assert initial_bearing_deg(0, 0, 1, 0) == pytest.approx(0.0)
    assert initial_bearing_deg(0, 0, -1, -1) == pytest.approx(225.0, abs=0.01)
    assert initial_bearing_deg(0, 179.5, 0, -179.5) == pytest.approx(90.0)  # across the antimeridian
    assert angular_difference_deg(350, 10) == pytest.approx(20)
    assert angular_difference_deg(-90, 90) == pytest.approx(180)
    assert wrap_deg(190.0) == pytest.approx(-170.0) and wrap_deg(-181.0) == pytest.approx(179.0)
    # Jakarta to Surabaya, about 663 km (great circle on the mean sphere)
    assert distance_km(-6.2088, 106.8456, -7.2575, 112.7521) == pytest.approx(663, abs=3)


def test_same_numbers_as_the_formulas_labels_py_held():
    lat1, lon1, lat2, lon2 = _points(2000)
    for args in list(zip(lat1, lon1, lat2, lon2))[:300]:
        args = tuple(float(v) for v in args)
        assert distance_km(*args) == _old_distance_km(*args)  # plain numbers: bit for bit
        assert initial_bearing_deg(*args) == _old_bearing_deg(*args)
        assert angular_difference_deg(args[1], args[3]) == _old_angular_difference_deg(args[1], args[3])
    old_d = np.array([_old_distance_km(*a) for a in zip(lat1, lon1, lat2, lon2)])
    old_b = np.array([_old_bearing_deg(*a) for a in zip(lat1, lon1, lat2, lon2)])
    # arrays go through numpy's sin/cos, which may differ from libm's in the last bit on some CPUs
    np.testing.assert_allclose(distance_km(lat1, lon1, lat2, lon2), old_d, rtol=1e-12, atol=1e-9)
    assert np.abs(wrap_deg(initial_bearing_deg(lat1, lon1, lat2, lon2) - old_b)).max() < 1e-9
    old_a = np.array([_old_angular_difference_deg(a, b) for a, b in zip(lon1, lon2)])
    np.testing.assert_allclose(angular_difference_deg(lon1, lon2), old_a, atol=1e-12)


def test_scalars_in_give_floats_out_and_arrays_broadcast():
    assert isinstance(distance_km(0, 0, 1, 1), float)
    assert isinstance(initial_bearing_deg(np.float32(0), 0, 1, 1), float)
    d = distance_km(0.0, 0.0, np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert d.shape == (2,) and d[0] == pytest.approx(d[1])


def test_destination_inverts_distance_and_bearing():
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-70, 70, 500), rng.uniform(-180, 180, 500)
    bearing, dist = rng.uniform(0, 360, 500), rng.uniform(0.1, 3000, 500)
    lat2, lon2 = destination(lat, lon, bearing, dist)
    np.testing.assert_allclose(distance_km(lat, lon, lat2, lon2), dist, rtol=1e-9)
    assert np.abs(wrap_deg(initial_bearing_deg(lat, lon, lat2, lon2) - bearing)).max() < 1e-6
    assert ((lon2 >= -180) & (lon2 < 180)).all()
    assert destination(0.0, 0.0, 90.0, math.pi / 2 * EARTH_RADIUS_KM) == pytest.approx((0.0, 90.0))


@pytest.mark.parametrize("lat0, lon0", [(0.0, 0.0), (-8.0, 115.0), (45.0, -120.0), (-60.0, 179.8)])
def test_plane_round_trip(lat0, lon0):
    plane = LocalPlane(lat0, lon0)
    rng = np.random.default_rng(2)
    east, north = rng.uniform(-300, 300, (2, 1000))
    lat, lon = plane.inverse(east, north)
    e2, n2 = plane.forward(lat, lon)
    np.testing.assert_allclose(e2, east, atol=1e-8)
    np.testing.assert_allclose(n2, north, atol=1e-8)
    # distances and bearings from the centre are exact
    np.testing.assert_allclose(distance_km(lat0, lon0, lat, lon), np.hypot(east, north), rtol=1e-9)
    assert plane.forward(lat0, lon0) == pytest.approx((0.0, 0.0), abs=1e-9)
    assert plane.inverse(0.0, 0.0) == pytest.approx((lat0, lon0))
    assert plane.north_deg(lat0, lon0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("lat0", [0.0, -8.0, 40.0, 60.0])
def test_plane_bearings_match_great_circle_bearings_over_a_network(lat0):
    """A bearing measured at a station (from its local north) is the straight line on the plane once the
    grid convergence at the station is added: within 0.02 degrees for points 150 km from the centre."""
    plane = LocalPlane(lat0, 20.0)
    rng = np.random.default_rng(3)
    e1, n1, e2, n2 = rng.uniform(-105, 105, (4, 3000))
    lat1, lon1 = plane.inverse(e1, n1)
    lat2, lon2 = plane.inverse(e2, n2)
    on_plane = np.degrees(np.arctan2(e2 - e1, n2 - n1))
    great_circle = initial_bearing_deg(lat1, lon1, lat2, lon2)
    assert np.abs(wrap_deg(on_plane - plane.north_deg(lat1, lon1) - great_circle)).max() < 0.02
    # and distances within 0.05%
    np.testing.assert_allclose(np.hypot(e2 - e1, n2 - n1), distance_km(lat1, lon1, lat2, lon2), rtol=5e-4)
