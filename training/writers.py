"""Writers for the station formats the project reads, so the real readers are exercised.

The FRG-604RC writer is the exact inverse of ``model_store.formats.frg604rc`` (constants shared);
IAGA-2002 follows the INTERMAGNET layout with 99999.00 for missing values; CSV is the project's own
layout (``model_store.formats.csv``); ImagCDF (needs ``cdflib``) and miniSEED (needs ``obspy``) follow
INTERMAGNET's ImagCDF 1.2 and the SEED channel naming for geomagnetic data. Every writer stores H,
the D channel as E (east, nT) and Z, so reading its output gives back the same series.
"""

from __future__ import annotations

import io
import os
import tempfile
from datetime import datetime, timedelta, timezone

import numpy as np

from model_store import StationSeries
from model_store.formats import frg604rc as frg

FRG_TRAILER = b"\xfa\xf3\x20"
INT24_MISSING = 0x7FFFFF
INT16_MISSING = 0x7FFF
IAGA_MISSING = 99999.00


def _counts(x: np.ndarray, scale: float, limit: int, missing: int) -> np.ndarray:
    c = np.rint(np.nan_to_num(x, nan=np.inf) / scale)
    bad = ~np.isfinite(c) | (np.abs(c) >= limit)
    return np.where(bad, missing, c).astype(np.int64)


def _int24_bytes(counts: np.ndarray) -> np.ndarray:
    u = counts & 0xFFFFFF
    return np.stack([(u >> (8 * k)) & 0xFF for k in range(3)], axis=-1).astype(np.uint8)


def _int16_bytes(counts: np.ndarray) -> np.ndarray:
    return (counts & 0xFFFF).astype("<u2").view(np.uint8).reshape(*counts.shape, 2)


def to_frg604rc(series: StationSeries, temperature_c: float = 30.0, voltage_v: float = 12.6) -> bytes:
    """Encode one UTC day of 1-Hz data (86,400 samples from 00:00) as an FRG-604RC file."""
    if series.sampling_interval_s != 1.0 or series.n_samples != frg.SECONDS_PER_DAY:
        raise ValueError("FRG-604RC holds exactly one day of 1-second samples")
    if series.start != series.start.replace(hour=0, minute=0, second=0, microsecond=0):
        raise ValueError("FRG-604RC days start at 00:00 UTC")
    n = frg.SECONDS_PER_DAY
    field_limit = int(frg.FIELD_MISSING_ABOVE / frg.FIELD_SCALE)
    rec = np.zeros((n, frg.RECORD_BYTES), dtype=np.uint8)
    for k, x in enumerate((series.h, series.d, series.z)):
        rec[:, 3 * k : 3 * k + 3] = _int24_bytes(_counts(x, frg.FIELD_SCALE, field_limit, INT24_MISSING))
    zeros = np.zeros(n)
    temp = np.full(n, temperature_c)
    for offset, x, scale in ((9, zeros, frg.TILT_SCALE), (11, zeros, frg.TILT_SCALE),
                             (13, temp, frg.TEMP_SCALE), (15, temp, frg.TEMP_SCALE)):
        rec[:, offset : offset + 2] = _int16_bytes(_counts(x, scale, 30_000, INT16_MISSING))
    rec = rec.reshape(frg.BLOCKS_PER_DAY, frg.RECORDS_PER_BLOCK * frg.RECORD_BYTES)

    headers = np.zeros((frg.BLOCKS_PER_DAY, frg.HEADER_BYTES), dtype=np.uint8)
    headers[:, 0:2] = np.frombuffer(frg.BLOCK_MAGIC, dtype=np.uint8)
    headers[:, 2:5] = np.frombuffer(series.station.upper()[:3].ljust(3, "X").encode("ascii"), dtype=np.uint8)
    day = series.start
    headers[:, 5:8] = [day.year - 2000, day.month, day.day]
    slots = np.arange(frg.BLOCKS_PER_DAY)
    headers[:, 8] = slots // 6
    headers[:, 9] = (slots % 6) * 10
    headers[:, frg.VOLTAGE_BYTE] = int(round(voltage_v * 10))
    return np.concatenate([headers, rec], axis=1).tobytes() + FRG_TRAILER


def _header_text(text: str, width: int = 44) -> str:
    """A header value as IAGA-2002 allows it: ASCII, no '|', at most ``width`` characters."""
    return text.encode("ascii", "replace").decode("ascii").replace("|", "/").strip()[:width]


def to_iaga2002(series: StationSeries, name: str | None = None) -> bytes:
    """Encode a series as IAGA-2002 text with HEZF components (E = the D channel in nT).

    The header carries the station's IAGA code (``series.station``, three characters), its name
    (``name``, or the code) and its geodetic coordinates (``series.latitude``/``longitude``, longitude
    in 0-360 east), which the IAGA-2002 reader gives back as ``station``, ``latitude``, ``longitude``.
    """
    interval = series.sampling_interval_s
    kind = "1-second" if interval == 1.0 else f"{interval:g}-second"
    lat = "" if series.latitude is None else f"{series.latitude:.4f}"
    lon = "" if series.longitude is None else f"{series.longitude % 360:.4f}"
    code = series.station.upper()[:3]
    head = [
        ("Format", "IAGA-2002"), ("Source of Data", "precursor-service simulator"),
        ("Station Name", _header_text(name or code)),
        ("IAGA CODE", code), ("Geodetic Latitude", lat), ("Geodetic Longitude", lon), ("Elevation", "0"),
        ("Reported", "HEZF"), ("Sensor Orientation", "HEZF"), ("Digital Sampling", f"{interval:g} second"),
        ("Data Interval Type", f"Average {kind}"), ("Data Type", "variation"),
    ]
    lines = [f" {k:<22}{v:<44}|" for k, v in head]
    lines.append(f"DATE       TIME         DOY     {code}H      {code}E      {code}Z      {code}F   |")
    values = np.stack([series.h, series.d, series.z]).T
    values = np.where(np.isnan(values), IAGA_MISSING, values)
    missing = f"{IAGA_MISSING:10.2f}"
    lines += [f"{stamp} {doy:03d}   {h:10.2f}{e:10.2f}{z:10.2f}{missing}"
              for stamp, doy, (h, e, z) in zip(*_iaga_times(series), values.tolist())]
    return ("\n".join(lines) + "\n").encode("ascii")


def _iaga_times(series: StationSeries) -> tuple[list[str], list[int]]:
    """Each sample's 'YYYY-MM-DD HH:MM:SS.mmm' (truncated to the millisecond) and day of year, computed as
    arrays (a datetime per line took about 1.5 s per station-day)."""
    start = series.start.astimezone(timezone.utc).replace(tzinfo=None) if series.start.tzinfo else series.start
    us = np.rint(np.arange(series.n_samples) * series.sampling_interval_s * 1e6).astype("timedelta64[us]")
    times = (np.datetime64(start, "us") + us).astype("datetime64[ms]")  # truncates, as microsecond // 1000
    doy = (times.astype("datetime64[D]") - times.astype("datetime64[Y]")).astype(np.int64) + 1
    return [t.replace("T", " ") for t in np.datetime_as_string(times, unit="ms")], doy.tolist()


CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _times(series: StationSeries) -> list[datetime]:
    return [series.start + timedelta(seconds=i * series.sampling_interval_s) for i in range(series.n_samples)]


def to_csv(series: StationSeries, decimals: int | None = None) -> bytes:
    """Encode a series in the project's CSV layout (empty cells for missing samples).

    Values are written exactly (shortest round-trip form) unless ``decimals`` is given.
    """
    lines = [f"# station: {series.station}"]
    if series.latitude is not None:
        lines.append(f"# latitude: {series.latitude!r}")
    if series.longitude is not None:
        lines.append(f"# longitude: {series.longitude!r}")
    lines.append("time,H,D,Z")
    def cell(x: float) -> str:
        if np.isnan(x):
            return ""
        return repr(float(x)) if decimals is None else f"{x:.{decimals}f}"

    for t, h, d, z in zip(_times(series), series.h, series.d, series.z):
        stamp = t.strftime(CSV_TIME_FORMAT) + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"
        lines.append(f"{stamp},{cell(h)},{cell(d)},{cell(z)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


IMAGCDF_FILL = 99999.0
CDF_DOUBLE, CDF_TIME_TT2000 = 45, 33
IMAGCDF_ORIENTATIONS = ("HEZ", "HDZ")
IMAGCDF_TIMES = "GeomagneticVectorTimes"


def _tt2000(series: StationSeries, cdflib) -> np.ndarray:
    """TT2000 stamps of every sample (stepping in nanoseconds unless a leap second intervenes)."""
    def tt(t: datetime) -> int:
        return int(cdflib.cdfepoch.compute_tt2000([t.year, t.month, t.day, t.hour, t.minute, t.second,
                                                   t.microsecond // 1000, t.microsecond % 1000, 0]))
    step = int(round(series.sampling_interval_s * 1e9))
    stamps = tt(series.start) + step * np.arange(series.n_samples, dtype=np.int64)
    end = series.start + timedelta(seconds=(series.n_samples - 1) * series.sampling_interval_s)
    if series.n_samples and stamps[-1] != tt(end):
        stamps = np.array([tt(t) for t in _times(series)], dtype=np.int64)
    return stamps


def to_imagcdf(series: StationSeries, orientation: str = "HEZ", scalar_f: np.ndarray | None = None,
               compress: bool = True) -> bytes:
    """Encode a series as an INTERMAGNET ImagCDF 1.2 file (needs cdflib).

    ``orientation`` "HEZ" stores the D channel as E (nT); "HDZ" stores D as an angle in degrees,
    ``asin(D_nT / H)``. ``scalar_f`` adds an F element on the same time stamps.
    """
    import cdflib
    from cdflib.cdfwrite import CDF as CDFWriter

    if orientation not in IMAGCDF_ORIENTATIONS:
        raise ValueError(f"orientation must be one of {IMAGCDF_ORIENTATIONS}")
    code = series.station.upper()[:3]
    elements = orientation + ("F" if scalar_f is not None else "")
    with np.errstate(invalid="ignore"):
        second = series.d if orientation == "HEZ" else np.degrees(np.arcsin(series.d / series.h))
    columns = dict(zip(elements, (series.h, second, series.z, scalar_f)))
    attrs = {
        "FormatDescription": "INTERMAGNET CDF Format", "FormatVersion": "1.2",
        "Title": "Geomagnetic time series data", "IagaCode": code, "ElementsRecorded": elements,
        "PublicationLevel": "1", "PublicationDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ObservatoryName": code, "Elevation": IMAGCDF_FILL, "Institution": "precursor-service writer",
        "VectorSensOrient": orientation, "StandardLevel": "None", "Source": "institute",
    }
    if series.latitude is not None:
        attrs["Latitude"] = float(series.latitude)
    if series.longitude is not None:
        attrs["Longitude"] = float(series.longitude)
    with tempfile.TemporaryDirectory(prefix="imagcdf-") as tmp:
        path = os.path.join(tmp, f"{code.lower()}.cdf")
        writer = CDFWriter(path, cdf_spec={"Compressed": 6 if compress else 0})
        writer.write_globalattrs({k: {0: v} for k, v in attrs.items()})
        writer.write_var(
            {"Variable": IMAGCDF_TIMES, "Data_Type": CDF_TIME_TT2000, "Num_Elements": 1, "Rec_Vary": True,
             "Dim_Sizes": []},
            var_data=_tt2000(series, cdflib),
        )
        for element, values in columns.items():
            writer.write_var(
                {"Variable": f"GeomagneticField{element}", "Data_Type": CDF_DOUBLE, "Num_Elements": 1,
                 "Rec_Vary": True, "Dim_Sizes": []},
                var_attrs={
                    "FIELDNAM": f"Geomagnetic Field Element {element}",
                    "UNITS": "Degrees of arc" if element == "D" else "nT",
                    "FILLVAL": [IMAGCDF_FILL, "CDF_DOUBLE"], "VALIDMIN": [-IMAGCDF_FILL, "CDF_DOUBLE"],
                    "VALIDMAX": [IMAGCDF_FILL, "CDF_DOUBLE"], "DEPEND_0": IMAGCDF_TIMES,
                    "DISPLAY_TYPE": "time_series", "LABLAXIS": element,
                },
                var_data=np.where(np.isnan(values), IMAGCDF_FILL, values).astype(np.float64),
            )
        writer.close()
        with open(path, "rb") as fh:
            return fh.read()


# SEED band codes of the geomagnetic channel convention, by sampling interval in seconds
SEED_BAND = {0.1: "B", 1.0: "L", 60.0: "U", 3600.0: "R", 86400.0: "P"}
MSEED_RECORD_BYTES = 4096


def to_miniseed(series: StationSeries, network: str = "XX", location: str = "R0") -> bytes:
    """Encode a series as miniSEED channels ``?FH``, ``?FE``, ``?FZ`` (needs obspy); gaps are left out."""
    from obspy import Stream, Trace, UTCDateTime

    band = SEED_BAND.get(float(series.sampling_interval_s))
    if band is None:
        raise ValueError(f"no SEED band code for a {series.sampling_interval_s:g}-second interval")
    start = UTCDateTime(series.start)
    traces = []
    for element, values in zip("HEZ", (series.h, series.d, series.z)):
        valid = np.r_[False, ~np.isnan(values), False].astype(np.int8)
        edges = np.flatnonzero(np.diff(valid))
        for i0, i1 in zip(edges[::2], edges[1::2]):
            stats = {"network": network, "station": series.station.upper()[:5], "location": location,
                     "channel": f"{band}F{element}", "delta": series.sampling_interval_s,
                     "starttime": start + float(i0) * series.sampling_interval_s}
            traces.append(Trace(np.ascontiguousarray(values[i0:i1], dtype=np.float64), header=stats))
    out = io.BytesIO()
    Stream(traces).write(out, format="MSEED", encoding="FLOAT64", reclen=MSEED_RECORD_BYTES)
    return out.getvalue()
