"""INTERMAGNET ImagCDF (v1.1/v1.2): NASA CDF files holding geomagnetic time series, read with ``cdflib``.

Needs the optional extra ``cdf`` (``pip install '.[cdf]'``). The global attribute ``ElementsRecorded``
(e.g. ``HDZF``, ``XYZG``) names the elements; each is a variable ``GeomagneticField<E>`` of doubles with
a ``FILLVAL`` for missing samples (99999.0 if absent), and its ``DEPEND_0`` names the time stamps
(``GeomagneticVectorTimes`` or ``DataTimes``; TT2000, or CDF_EPOCH in old files). D is in degrees
(``UNITS`` "Degrees of arc") and becomes the east component in nT. A file may hold several days; it is
read as one series (windows are cut later). Station code, latitude and longitude come from the global
attributes ``IagaCode``, ``Latitude``, ``Longitude``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from ..errors import CorruptFileError, ReadError
from ..series import StationSeries
from ._cdf_guard import clamped_cdf_class, uncompressed_cdf
from ._components import ARCMIN_TO_RAD, DEG_TO_RAD, vector_layout, vector_series
from ._extras import require
from ._grid import MAX_GRID_SAMPLES, RowGrid
from ._physical import station_coordinates
from ._source import MAX_DECOMPRESSED_BYTES, Payload, Source, as_payload

NAME = "imagcdf"
DESCRIPTION = "INTERMAGNET ImagCDF (CDF), any sampling, one or more days"
EXTRA = "cdf"

CDF_MAGIC = (b"\xcd\xf3\x00\x01", b"\xcd\xf2\x60\x02")  # CDF 3.x, CDF 2.6+
FIELD_VARIABLE = "GeomagneticField{}"
TIME_VARIABLES = ("GeomagneticVectorTimes", "DataTimes")
DEFAULT_FILL = 99999.0
FILL_TOLERANCE = 0.5
CDF_EPOCH, CDF_TIME_TT2000 = 31, 33
EPOCH_MS_AT_1970 = 62_167_219_200_000.0  # CDF_EPOCH counts milliseconds from 0000-01-01
# cdflib inflates compressed variable blocks in one call with no size limit; while this module reads,
# that call is replaced by a bounded one (process-wide, hence the lock). Whole-file compression is
# undone before cdflib sees the file (_cdf_guard).
_INFLATE_LOCK = threading.Lock()


def sniff(data: bytes) -> bool:
    """True if ``data`` starts with a CDF magic number. Never raises."""
    try:
        return bytes(data[:4]) in CDF_MAGIC
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def read(data: Payload | Source, name: str = "<bytes>") -> StationSeries:
    payload = as_payload(data, name)
    name = payload.name
    cdflib = require(EXTRA, "ImagCDF", name)
    raw = uncompressed_cdf(payload.read_all(), MAX_DECOMPRESSED_BYTES, name)
    with tempfile.TemporaryDirectory(prefix="imagcdf-") as tmp:
        path = os.path.join(tmp, "upload.cdf")
        with open(path, "wb") as fh:
            fh.write(raw)
        del raw
        with _bounded_inflation(cdflib, MAX_DECOMPRESSED_BYTES, name):
            try:
                cdf = clamped_cdf_class(cdflib)(path)
                return _read_cdf(cdf, cdflib, name)
            except ReadError:
                raise
            except Exception as exc:  # noqa: BLE001 - cdflib raises many kinds on damaged input
                raise CorruptFileError(f"{name}: not a readable CDF file ({type(exc).__name__}: {exc})") from exc


def _read_cdf(cdf, cdflib: ModuleType, name: str) -> StationSeries:
    attrs = cdf.globalattsget()
    variables = set(cdf.cdf_info().zVariables) | set(cdf.cdf_info().rVariables)
    elements = _text(attrs.get("ElementsRecorded"))
    if not elements:
        elements = "".join(v[len(FIELD_VARIABLE.format("")):] for v in sorted(variables) if v.startswith("GeomagneticField"))
    if not any(v.startswith("GeomagneticField") for v in variables):
        raise CorruptFileError(f"{name}: a CDF file, but not ImagCDF (no GeomagneticField<E> variables)")
    layout = vector_layout(list(elements), name)

    columns, time_var = {}, None
    for element in layout.orientation:
        var = FIELD_VARIABLE.format(element)
        if var not in variables:
            raise CorruptFileError(f"{name}: ElementsRecorded is {elements!r} but there is no variable {var}")
        _check_records(cdf, var, name)
        vattrs = cdf.varattsget(var)
        depend = _text(vattrs.get("DEPEND_0")) or next((t for t in TIME_VARIABLES if t in variables), None)
        if time_var not in (None, depend):
            raise CorruptFileError(f"{name}: vector elements use different time stamps ({time_var}, {depend})")
        time_var = depend
        values = np.asarray(cdf.varget(var), dtype=np.float64).reshape(-1)
        fill = _number(vattrs.get("FILLVAL"), DEFAULT_FILL)
        values[np.abs(values - fill) < FILL_TOLERANCE] = np.nan
        columns[element] = values
    if time_var is None or time_var not in variables:
        raise CorruptFileError(f"{name}: no time stamp variable ({' or '.join(TIME_VARIABLES)})")
    _check_records(cdf, time_var, name)
    times = _unix_us(cdf, time_var, cdflib, name)
    lengths = {len(times), *(len(v) for v in columns.values())}
    if len(lengths) != 1:
        raise CorruptFileError(f"{name}: time stamps and field elements have different record counts {sorted(lengths)}")

    grid = RowGrid(name, n_values=3, unit="record")
    grid.add(times, np.column_stack([columns[e] for e in layout.orientation]), np.arange(1, len(times) + 1))
    d_to_rad = DEG_TO_RAD
    if "D" in layout.orientation and "min" in _text(cdf.varattsget(FIELD_VARIABLE.format("D")).get("UNITS")).lower():
        d_to_rad = ARCMIN_TO_RAD
    lat, lon = station_coordinates(_number(attrs.get("Latitude"), None), _number(attrs.get("Longitude"), None), name)
    station = _text(attrs.get("IagaCode")).strip().upper()
    return vector_series(NAME, station, layout, grid.finish(), d_to_rad, lat, lon)


def _check_records(cdf, var: str, name: str) -> None:
    info = cdf.varinq(var)
    if info.Num_Dims != 0:
        raise CorruptFileError(f"{name}: variable {var} has {info.Num_Dims} dimensions; ImagCDF uses one value per record")
    if info.Last_Rec + 1 > MAX_GRID_SAMPLES:
        raise CorruptFileError(
            f"{name}: variable {var} has {info.Last_Rec + 1} records; at most {MAX_GRID_SAMPLES} are accepted"
        )


def _unix_us(cdf, var: str, cdflib: ModuleType, name: str) -> np.ndarray:
    """Time stamps as microseconds since 1970 UTC (leap seconds handled by cdflib)."""
    kind = cdf.varinq(var).Data_Type
    raw = np.asarray(cdf.varget(var)).reshape(-1)
    if kind == CDF_EPOCH:
        return np.rint((raw.astype(np.float64) - EPOCH_MS_AT_1970) * 1000).astype(np.int64)
    if kind != CDF_TIME_TT2000:
        raise CorruptFileError(f"{name}: time stamps in {var} are CDF type {kind}, not TT2000 or CDF_EPOCH")
    tt = raw.astype(np.int64)
    if not len(tt):
        return tt
    to_us = lambda x: cdflib.cdfepoch.to_datetime(x).astype("datetime64[us]").astype(np.int64)  # noqa: E731
    ends = to_us(tt[[0, -1]])
    linear = ends[0] + (tt - tt[0]) // 1000
    # TT2000 counts leap seconds, UTC does not: convert one by one only if one falls inside the record.
    return linear if linear[-1] == ends[1] else to_us(tt)


@contextmanager
def _bounded_inflation(cdflib: ModuleType, limit: int, name: str) -> Iterator[None]:
    cdfread = cdflib.cdfread

    def inflate(data: bytes) -> bytes:
        stream = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # gzip or zlib header
        out = stream.decompress(data, limit + 1)
        if len(out) > limit or stream.unconsumed_tail:
            raise CorruptFileError(f"{name}: compressed CDF data expands beyond {limit // (1024 * 1024)} MB; refusing it")
        return out

    with _INFLATE_LOCK:
        original = cdfread.gzip_inflate
        cdfread.gzip_inflate = inflate
        try:
            yield
        finally:
            cdfread.gzip_inflate = original


def _text(value) -> str:
    """A global/variable attribute entry as text (cdflib gives lists, arrays or strings)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    return value if isinstance(value, str) else str(value)


def _number(value, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return default
    return float(arr[0]) if arr.size and np.isfinite(arr[0]) else default
