"""Make the small format samples in this folder from the real files in ../shared/data (see README.md).

Run from the repository root with the extras installed: ``python tests/data/make_format_samples.py``.
Trimming keeps whole lines of the original files; the ImagCDF sample re-encodes the USGS miniSEED
record (H, E, Z, F at 1 minute, 4 days) with ``training.writers.to_imagcdf``.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from model_store import read_series  # noqa: E402
from training.writers import to_imagcdf  # noqa: E402

# (source, target, data rows kept)
IAGA_TRIMS = (
    ("iaga2002/wic20230712vsec.sec.gz", "wic20230712vsec_00-12h.sec.gz", 12 * 3600),
    ("iaga2002/wic20220810vsec.sec.gz", "wic20220810vsec_00-01h.sec.gz", 3600),
)
MSEED = "mseed/bou20200827_min.mseed"
IMAGCDF = "bou20200827_4days_vmin.cdf"


def trim_iaga(source: Path, target: Path, rows: int) -> None:
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if line.startswith(b"DATE"))
    target.write_bytes(gzip.compress(b"".join(lines[: header + 1 + rows]), compresslevel=9, mtime=0))


def imagcdf_from_mseed(source: Path, target: Path) -> None:
    import obspy

    series = read_series(source)
    f = obspy.read(str(source)).select(channel="F")[0].data.astype(np.float64)
    target.write_bytes(to_imagcdf(series, orientation="HEZ", scalar_f=f))


def main() -> None:
    for src, dst, rows in IAGA_TRIMS:
        trim_iaga(SHARED / src, OUT / dst, rows)
    shutil.copyfile(SHARED / MSEED, OUT / Path(MSEED).name)
    imagcdf_from_mseed(SHARED / MSEED, OUT / IMAGCDF)
    for name in [dst for _, dst, _ in IAGA_TRIMS] + [Path(MSEED).name, IMAGCDF]:
        print(f"{name}: {(OUT / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
