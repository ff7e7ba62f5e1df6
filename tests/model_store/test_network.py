"""The network stage: fixes from bearings, their ellipses' coverage, the refusals, distances, magnitude.

Seeded and small: every random draw here is repeatable. The coverage property uses 400 draws; see
``test_the_95_percent_ellipse_covers_the_source_95_percent_of_the_time`` for the tolerance.
"""

import json
import math

import numpy as np
import pytest

from model_store.geodesy import (
    LocalPlane,
    destination,
    distance_km,
    initial_bearing_deg,
)
from model_store.network import (
    MAGNITUDE_STATEMENT,
    Fix,
    MagnitudeModel,
    NetworkConfig,
    NoFix,
    StationObservation,
    kappa_from_uncertainty_deg,
    locate,
    mean_resultant_length,
    network_window,
    station_distances,
    uncertainty_deg_from_kappa,
)

# the estimator's own ellipse, without the refusals that select among fixes
PERMISSIVE = NetworkConfig(consistency_p_value=0.0, max_semi_major_km=math.inf, max_range_km=200.0)


def _exact(stations, source, kappa=30.0, **extra):
    return [StationObservation(code, lat, lon, bearing_deg=initial_bearing_deg(lat, lon, *source), kappa=kappa,
                               detected=True, **extra)
            for code, (lat, lon) in stations.items()]


def _around(source, placements):
    """Stations at (bearing from the source, km) placements, named A, B, C, ..."""
    return {chr(65 + i): destination(*source, b, r) for i, (b, r) in enumerate(placements)}


def _layout(rng, n, centre=(-7.5, 110.0), lo=30.0, hi=60.0):
    """n stations, each 30-60 km from another and no two closer than 30 km, centred on ``centre``."""
    pts = [(0.0, 0.0)]
    while len(pts) < n:
        base = pts[rng.integers(len(pts))]
        a, r = rng.uniform(0, 2 * math.pi), rng.uniform(lo, hi)
        p = (base[0] + r * math.sin(a), base[1] + r * math.cos(a))
        if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= lo for q in pts):
            pts.append(p)
    xy = np.array(pts) - np.mean(pts, axis=0)
    lat, lon = LocalPlane(*centre).inverse(xy[:, 0], xy[:, 1])
    return list(zip(np.atleast_1d(lat), np.atleast_1d(lon)))


def _noisy(rng, stations, source, spread_deg=(10.0, 40.0)):
    out = []
    for i, (lat, lon) in enumerate(stations):
        kappa = kappa_from_uncertainty_deg(rng.uniform(*spread_deg))
        b = initial_bearing_deg(lat, lon, *source) + math.degrees(rng.vonmises(0.0, kappa))
        out.append(StationObservation(f"S{i}", float(lat), float(lon), bearing_deg=b % 360, kappa=kappa, detected=True,
                                      amplitude_nt=0.2))
    return out


# ---------------------------------------------------------------------------- von Mises helpers
@pytest.mark.parametrize("sd", [2.0, 10.0, 25.0, 40.0, 73.0, 120.0])
def test_uncertainty_and_kappa_convert_both_ways(sd):
    kappa = kappa_from_uncertainty_deg(sd)
    assert uncertainty_deg_from_kappa(kappa) == pytest.approx(sd, rel=1e-6)
    assert mean_resultant_length(kappa) == pytest.approx(math.exp(-math.radians(sd) ** 2 / 2), rel=1e-6)
    if sd <= 5:
        assert kappa == pytest.approx(1 / math.radians(sd) ** 2, rel=0.02)  # small spreads: kappa ~ 1/sd^2


def test_an_observation_gives_its_kappa_from_either_form():
    o = StationObservation("A", 0, 0, bearing_deg=10, uncertainty_deg=20.0)
    assert o.concentration() == pytest.approx(kappa_from_uncertainty_deg(20.0))
    assert StationObservation("A", 0, 0, kappa=7.0, uncertainty_deg=20.0).concentration() == 7.0
    assert StationObservation("A", 0, 0).concentration() is None
    cfg = NetworkConfig(detection_p_value=0.01)
    assert StationObservation("A", 0, 0, p_value=0.005).is_detection(cfg)
    assert not StationObservation("A", 0, 0, p_value=0.05, detected=True).is_detection(cfg)  # the p-value decides
    assert StationObservation("A", 0, 0, detected=True).is_detection(cfg)


# ---------------------------------------------------------------------------- exact bearings
GEOMETRIES = {
    "two, crossing square": ((-7.5, 110.0), [(225, 40), (135, 45)]),
    "two, source outside": ((-7.5, 110.0), [(200, 35), (250, 60)]),
    "three around": ((-2.0, 120.0), [(0, 40), (120, 35), (240, 55)]),
    "three on one side": ((3.5, 96.0), [(170, 30), (200, 50), (230, 45)]),
    "five around, high latitude": ((60.0, 25.0), [(10, 40), (80, 55), (150, 30), (220, 60), (290, 45)]),
    "five across the antimeridian": ((-16.0, 179.9), [(30, 40), (100, 35), (170, 60), (250, 30), (320, 50)]),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_exact_bearings_recover_a_known_source(name):
    source, placements = GEOMETRIES[name]
    fix = locate(_exact(_around(source, placements), source, kappa=200.0))  # +-4 degrees
    assert isinstance(fix, Fix), fix
    # within 0.2 km and 0.2 degrees, not exactly: the bearing variance's near-field term (1 km / r)^2
    # makes the likelihood of exact bearings rise slightly away from the stations
    assert distance_km(fix.latitude, fix.longitude, *source) < 0.2
    assert fix.residual_rms_deg < 0.2 and fix.contains(*source)
    assert len(fix.stations_used) == len(placements) and fix.dof == len(placements) - 2
    assert (fix.consistency_p_value is None) == (len(placements) == 2)
    assert 0 < fix.ellipse.semi_minor_km <= fix.ellipse.semi_major_km < 60
    assert 0 <= fix.ellipse.azimuth_deg < 180


def test_the_ellipse_lies_along_the_range_when_two_rays_cross_at_a_shallow_angle():
    source = (-7.5, 110.0)
    stations = _around(source, [(170, 50), (190, 50)])  # both to the south: rays meet at 20 degrees
    fix = locate(_exact(stations, source, kappa=400.0), NetworkConfig(max_semi_major_km=math.inf))
    assert isinstance(fix, Fix), fix
    assert fix.ellipse.semi_major_km > 3 * fix.ellipse.semi_minor_km
    assert min(fix.ellipse.azimuth_deg, 180 - fix.ellipse.azimuth_deg) < 10  # north-south: along the range


# ---------------------------------------------------------------------------- coverage
def test_the_95_percent_ellipse_covers_the_source_95_percent_of_the_time():
    """400 draws: 3-6 stations 30-60 km apart, a source within 80 km of their centre, each bearing von
    Mises with a stated spread of 10-40 degrees. Among the fixes (the estimator's ellipse, without the
    refusals that select among fixes), the ellipse must hold the source in 0.92-0.98 of them: 0.95 +-
    about 2.7 binomial standard deviations (0.011 at 400 draws), wide enough not to flake with the seed
    and narrow enough to catch the linearised (Fisher) ellipse, which covers 0.85 of these. The range
    prior is set wide (200 km) so that no source drawn here lies outside it."""
    rng = np.random.default_rng(2024)
    inside = []
    for _ in range(400):
        stations = _layout(rng, int(rng.integers(3, 7)))
        lat0, lon0 = np.mean(stations, axis=0)
        source = destination(float(lat0), float(lon0), rng.uniform(0, 360), 80 * math.sqrt(rng.uniform()))
        fix = locate(_noisy(rng, stations, source), PERMISSIVE)
        if isinstance(fix, Fix):
            inside.append(fix.contains(*source))
    assert len(inside) >= 300  # most draws give a fix (the rest: rays crossing behind, or out of range)
    assert 0.92 <= np.mean(inside) <= 0.98, np.mean(inside)


def test_the_ellipse_holds_95_percent_of_the_likelihood_on_an_independent_grid():
    """The polar grid's integral against a plain 1 km Cartesian grid over the prior's support."""
    from model_store import network

    rng = np.random.default_rng(7)
    for n in (2, 3, 5):
        stations = _layout(rng, n)
        lat0, lon0 = np.mean(stations, axis=0)
        source = destination(float(lat0), float(lon0), rng.uniform(0, 360), 40.0)
        obs = _noisy(rng, stations, source, (10.0, 20.0))
        fix = locate(obs, PERMISSIVE)
        assert isinstance(fix, Fix)
        plane = fix.plane
        east, north = plane.forward(np.array([o.latitude for o in obs]), np.array([o.longitude for o in obs]))
        theta = np.radians(np.array([o.bearing_deg for o in obs]) +
                           plane.north_deg(np.array([o.latitude for o in obs]), np.array([o.longitude for o in obs])))
        rays = network._Rays([o.code for o in obs], np.stack([east, north], axis=1), theta,
                             np.array([o.kappa for o in obs]), np.full(n, np.nan), PERMISSIVE.near_field_km)
        g = np.arange(-250, 250, 1.0) + 0.5
        xx, yy = np.meshgrid(g, g)
        pts = np.stack([xx.ravel(), yy.ravel()])
        in_range = np.all(np.hypot(pts[0][None] - east[:, None], pts[1][None] - north[:, None])
                          <= PERMISSIVE.max_range_km, axis=0)
        ll = network._loglik(rays, pts)
        mass = np.exp(ll - ll.max()) * in_range
        d = pts - np.array([[fix.east_km], [fix.north_km]])
        m2 = np.sum(d * np.linalg.solve(fix._cov(), d), axis=0)
        held = mass[m2 <= -2 * math.log(0.05)].sum() / mass.sum()
        assert held == pytest.approx(0.95, abs=0.02), (n, held)


# ---------------------------------------------------------------------------- refusals
def _obs(code, lat, lon, bearing, kappa=30.0):
    return StationObservation(code, lat, lon, bearing_deg=bearing, kappa=kappa, detected=True)


def test_diverging_rays_give_no_fix():
    a, b = (-7.5, 110.0), destination(-7.5, 110.0, 90, 40)
    result = locate([_obs("A", *a, 300), _obs("B", *b, 60)])  # A looks west-north-west, B east-north-east
    assert isinstance(result, NoFix) and result.code == "diverging"
    assert "do not cross in front" in result.reason


def test_rays_that_cross_behind_the_stations_give_no_fix():
    a, b = (-7.5, 110.0), destination(-7.5, 110.0, 90, 40)
    source_behind = destination(-7.5, 110.0, 135, 60)  # south-east of both; the bearings point away from it
    result = locate([_obs("A", *a, (initial_bearing_deg(*a, *source_behind) + 180) % 360),
                     _obs("B", *b, (initial_bearing_deg(*b, *source_behind) + 180) % 360)])
    assert isinstance(result, NoFix) and result.code == "diverging"


@pytest.mark.parametrize("n", [2, 3, 6])
def test_parallel_bearings_as_from_a_global_pulsation_give_no_fix(n):
    rng = np.random.default_rng(n)
    stations = _layout(rng, n)
    obs = [_obs(f"S{i}", lat, lon, 75 + rng.uniform(-3, 3), kappa=200.0) for i, (lat, lon) in enumerate(stations)]
    result = locate(obs)
    assert isinstance(result, NoFix) and result.code == "parallel"
    assert "storm or a global pulsation" in result.reason


def test_a_far_crossing_is_out_of_range():
    a, b = (-7.5, 110.0), destination(-7.5, 110.0, 90, 100)
    far = destination(-7.5, 110.05, 0, 300)
    result = locate([_obs("A", *a, initial_bearing_deg(*a, *far), kappa=3000.0),
                     _obs("B", *b, initial_bearing_deg(*b, *far), kappa=3000.0)])
    assert isinstance(result, NoFix) and result.code == "out_of_range"


def test_three_bearings_that_miss_each_other_are_inconsistent():
    source = (-7.5, 110.0)
    stations = _around(source, [(0, 40), (120, 40), (240, 40)])
    obs = _exact(stations, source, kappa=400.0)  # +-3 degrees stated
    obs[0] = _obs("A", *stations["A"], obs[0].bearing_deg + 25, kappa=400.0)  # but A is 25 degrees off
    result = locate(obs)
    assert isinstance(result, NoFix) and result.code == "inconsistent"
    assert "do not meet at one point" in result.reason and "1 degree of freedom" in result.reason


def test_uncertain_shallow_crossings_give_too_large_an_ellipse():
    source = (-7.5, 110.0)
    result = locate(_exact(_around(source, [(160, 50), (200, 50)]), source, kappa=4.0))
    assert isinstance(result, NoFix) and result.code == "ellipse_too_large"


def test_one_usable_bearing_is_too_few():
    result = locate([_obs("A", -7.5, 110.0, 40.0), _obs("B", -7.5, 110.4, 300.0, kappa=0.3),
                     StationObservation("C", -7.2, 110.2, detected=True)])
    assert isinstance(result, NoFix) and result.code == "too_few_stations"
    assert "B's bearing is too uncertain" in result.reason and "C gives no bearing" in result.reason


def test_an_outlier_among_five_is_dropped_and_said():
    source = (-7.5, 110.0)
    stations = _around(source, [(0, 40), (70, 45), (140, 35), (210, 50), (290, 40)])
    obs = _exact(stations, source, kappa=100.0)
    obs[2] = _obs("C", *stations["C"], (obs[2].bearing_deg + 120) % 360, kappa=100.0)
    assert locate(obs).code == "diverging"  # by default one bad bearing refuses the fix
    fix = locate(obs, NetworkConfig(drop_outlier=True))
    assert isinstance(fix, Fix), fix
    assert [c for c, _ in fix.dropped] == ["C"] and "outlier" in fix.dropped[0][1]
    assert "C" not in fix.stations_used and distance_km(fix.latitude, fix.longitude, *source) < 0.5
    assert isinstance(locate(obs[:4], NetworkConfig(drop_outlier=True)), NoFix)  # never with four


def test_random_bearings_as_from_a_storm_rarely_give_a_fix():
    """A storm or pulsation seen at every station, each bearing set by the station's own polarisation: the
    bearings are unrelated to one another (here uniform), with whatever confidence the model states."""
    rng = np.random.default_rng(11)
    fixes = {n: 0 for n in (3, 6, 10)}
    for n in fixes:
        for _ in range(60):
            obs = [_obs(f"S{i}", lat, lon, rng.uniform(0, 360), kappa_from_uncertainty_deg(rng.uniform(10, 40)))
                   for i, (lat, lon) in enumerate(_layout(rng, n))]
            fixes[n] += isinstance(locate(obs), Fix)
    assert fixes[6] + fixes[10] == 0 and fixes[3] <= 6, fixes  # at three, rays cross by chance now and then


# ---------------------------------------------------------------------------- distances and the window
def test_station_distances_come_with_propagated_uncertainty():
    source = (-7.5, 110.0)
    stations = _around(source, [(0, 40), (120, 35), (240, 55)])
    obs = _exact(stations, source, kappa=30.0)
    fix = locate(obs)
    distances = {d.code: d for d in station_distances(fix, obs)}
    for code, (lat, lon) in stations.items():
        assert distances[code].distance_km == pytest.approx(distance_km(lat, lon, fix.latitude, fix.longitude))
        assert 0 < distances[code].sd_km <= fix.ellipse.semi_major_km


def test_a_network_alarm_needs_two_coincident_detections_and_a_fix():
    source = (-7.5, 110.0)
    stations = _around(source, [(0, 40), (120, 35), (240, 55)])
    obs = _exact(stations, source, amplitude_nt=0.3)
    one = [obs[0]] + [StationObservation(o.code, o.latitude, o.longitude, o.bearing_deg, o.kappa, p_value=0.4)
                      for o in obs[1:]]
    lone = network_window(one)
    assert not lone.alarm and lone.fix is None and "1 station detects" in lone.reason
    assert lone.to_dict()["source"] is None and lone.to_dict()["source_reason"]

    result = network_window(obs)
    assert result.alarm and isinstance(result.fix, Fix)
    out = json.loads(json.dumps(result.to_dict()))  # JSON as it is
    assert set(out) >= {"alarm", "source", "source_reason", "magnitude", "magnitude_reason"}
    assert set(out["source"]) >= {"latitude", "longitude", "ellipse_km", "stations_used", "residual_deg"}
    assert set(out["source"]["ellipse_km"]) == {"semi_major", "semi_minor", "azimuth_deg"}
    assert out["magnitude"] is None and out["magnitude_reason"] == "no magnitude model is loaded"

    parallel = [StationObservation(o.code, o.latitude, o.longitude, 75.0, 200.0, detected=True) for o in obs]
    refused = network_window(parallel)
    assert not refused.alarm and refused.to_dict()["source"] is None
    assert "no consistent source" in refused.reason and refused.no_fix.code == "parallel"


def _model():
    return MagnitudeModel(classes=("Large", "Medium", "Moderate"), coef=((3.0, 0.2), (0.0, 0.0), (-3.0, -0.2)),
                          intercept=(0.1, 0.5, -0.2), mean=(4.0, 4.0), scale=(1.0, 1.5), temperature=1.3)


def test_the_magnitude_model_round_trips_as_json_and_gives_probabilities():
    model = _model()
    again = MagnitudeModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model and again.statement == MAGNITUDE_STATEMENT
    x = np.array([[3.0, 2.0], [4.5, 6.0], [6.0, 3.0]])
    p = again.probabilities(x)
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0) and (p > 0).all()
    assert p[2].argmax() == 0 and p[0].argmax() == 2  # strong sources Large, weak ones Moderate
    with pytest.raises(ValueError, match="unknown"):
        MagnitudeModel.from_dict({**model.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="do not match"):
        MagnitudeModel.from_dict({**model.to_dict(), "intercept": [0.0, 0.0]})


def test_a_window_with_a_fix_gets_a_magnitude():
    source = (-7.5, 110.0)
    stations = _around(source, [(0, 40), (120, 35), (240, 55)])
    obs = _exact(stations, source, amplitude_nt=0.3)
    fix = locate(obs)
    probs = _model().predict_proba(fix, obs)
    assert list(probs) == ["Large", "Medium", "Moderate"] and sum(probs.values()) == pytest.approx(1.0)
    result = network_window(obs, magnitude_model=_model())
    assert result.magnitude.probabilities == pytest.approx(probs)
    assert result.to_dict()["magnitude"]["label"] == max(probs, key=probs.get)
    silent = [StationObservation(o.code, o.latitude, o.longitude, o.bearing_deg, o.kappa, detected=True) for o in obs]
    quiet = network_window(silent, magnitude_model=_model())
    assert quiet.alarm and quiet.magnitude is None and "amplitude" in quiet.magnitude_reason
