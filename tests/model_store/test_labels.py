import pytest

from model_store.geodesy import distance_km, initial_bearing_deg
from model_store.labels import AZIMUTH_CLASSES, azimuth_class, magnitude_class
from model_store.stations import get_station, load_stations


@pytest.mark.parametrize(
    "m, label", [(7.5, "Large"), (6.0, "Large"), (5.99, "Medium"), (5.0, "Medium"), (4.0, "Moderate"), (3.9, None)]
)
def test_magnitude_classes(m, label):
    assert magnitude_class(m) == label


@pytest.mark.parametrize(
    "bearing, label",
    [(0, "N"), (22.4, "N"), (22.5, "NE"), (90, "E"), (135, "SE"), (180, "S"), (225, "SW"), (270, "W"),
     (315, "NW"), (337.4, "NW"), (337.5, "N"), (359.9, "N"), (-45, "NW"), (720, "N")],
)
def test_azimuth_sectors_are_centred_on_compass_points(bearing, label):
    assert azimuth_class(bearing) == label


def test_lut_to_the_2023_01_09_tanimbar_m7_5():
    lut = get_station("lut")
    # BMKG catalogue: 2023-01-09 17:47 UTC, M7.5, -7.37, 130.23 (Tanimbar)
    d = distance_km(lut.latitude, lut.longitude, -7.37, 130.23)
    assert d == pytest.approx(1523, abs=5)  # data README: "1,520 km away"
    assert azimuth_class(initial_bearing_deg(lut.latitude, lut.longitude, -7.37, 130.23)) == "E"


def test_station_table_is_packaged():
    stations = load_stations()
    assert len(stations) == 24 and "LUT" in stations
    assert AZIMUTH_CLASSES[-1] == "Normal"


def test_compass_sectors_and_vector_bearings():
    import numpy as np
    import torch

    from model_store.compass import sector_centre_deg, sector_index, vector_bearing_deg
    from model_store.labels import azimuth_class_centre_deg

    edges = np.array([337.5, 359.9, 0.0, 22.4, 22.5, 67.5, 180.0, 292.4, -22.5, 720.0])
    assert sector_index(edges).tolist() == [0, 0, 0, 0, 1, 2, 4, 6, 0, 0]
    assert sector_index(44.9) == 1 and isinstance(sector_index(44.9), int)
    assert [azimuth_class(b) for b in (0, 45, 90, 135, 180, 225, 270, 315)] == list(AZIMUTH_CLASSES[:8])
    assert sector_centre_deg(np.arange(8)).tolist() == [0, 45, 90, 135, 180, 225, 270, 315]
    assert azimuth_class_centre_deg("SW") == 225.0 and azimuth_class_centre_deg("Normal") is None
    north, east = np.array([1.0, 0.0, -1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, -1.0, 1.0])
    assert vector_bearing_deg(north, east).tolist() == [0.0, 90.0, 180.0, 270.0, 45.0]
    assert vector_bearing_deg(torch.tensor(north), torch.tensor(east)).tolist() == [0.0, 90.0, 180.0, 270.0, 45.0]
