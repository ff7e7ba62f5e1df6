"""The documentation: a short README that links every page, relative links that resolve, no lab notebook.

The pages checked are README.md and docs/*.md; the generated model report under docs/default_model_report/
is written by `make model` and only checked as a link target. Benchmark history is kept as JSON records
in benchmarks/results/.
"""

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
CHECKED = [README, *PAGES]
RESULTS = ROOT / "benchmarks" / "results"
README_MAX_BYTES = 20_000

# How the work went belongs in git history and CHANGELOG.md, not in pages that describe the software.
NARRATIVE = (
    "an hour earlier",
    "could not be built on the development machine",
    "in a run",
    "at the previous stop",
    "this stop",
    "since the previous figures",
    "the run before",
    "the first simulator",
    "the previous simulator",
)

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The page without code blocks and code spans (links and headings inside them are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _links(path: Path) -> list[str]:
    prose = _prose(path.read_text())
    return LINK.findall(prose) + REFERENCE.findall(prose)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: code and link markup dropped, lower case, punctuation removed, spaces
    to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug, n = _slug(heading), 1
        while slug in anchors:  # repeated headings get -1, -2, ...
            slug, n = f"{_slug(heading)}-{n}", n + 1
        anchors.add(slug)
    return anchors


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)  # http:, https:, mailto: ... are not checked


def test_the_readme_is_a_front_door():
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_MAX_BYTES})"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / unquote(t.split("#", 1)[0])).resolve() for t in _links(README) if _relative(t)}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    broken = []
    for target in _links(page):
        if not _relative(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(file_part)).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: broken links"


@pytest.mark.parametrize("page", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_describe_the_software_not_how_the_work_went(page):
    text = page.read_text().lower()
    found = [phrase for phrase in NARRATIVE if re.search(rf"\b{re.escape(phrase)}\b", text)]
    assert found == [], f"{page.relative_to(ROOT)}: write what changed in CHANGELOG.md, the figures in benchmarks/results/"


def test_the_link_checker_sees_links_and_headings():
    """The checks above would pass vacuously if the patterns matched nothing."""
    assert _slug("`/predict`: one spectrogram") == "predict-one-spectrogram"
    assert _slug("Measurements behind the runtime's defaults") == "measurements-behind-the-runtimes-defaults"
    text = "[a](x.md#y) `[b](code.md)` ![multi\nline alt](img.jpg)\n```\n[c](fenced.md)\n```\n[ref]: z.md\n"
    assert LINK.findall(_prose(text)) + REFERENCE.findall(_prose(text)) == ["x.md#y", "img.jpg", "z.md"]
    assert len(_links(README)) >= len(PAGES)


def test_benchmark_records_are_json_named_by_date():
    records = sorted(RESULTS.glob("*.json"))
    assert records, "benchmarks/results/ holds no records"
    assert (RESULTS / "README.md").exists()
    for path in records:
        record = json.loads(path.read_text())
        assert {"date", "commit", "machine", "cpu"} <= record.keys(), path.name
        assert path.name.startswith(record["date"]), f"{path.name}: name it YYYY-MM-DDTHHMM_<commit>.json"
        assert record["commit"] is None or record["commit"] in path.name, path.name
        assert "make_bench" in record or "peers" in record, path.name
    assert [json.loads(p.read_text())["date"] for p in records] == sorted(
        json.loads(p.read_text())["date"] for p in records)
