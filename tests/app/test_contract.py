"""The contract as a client sees it: documented statuses and bodies, headers kept, helpful refusals."""

import re
from pathlib import Path

import pytest
import uvicorn.importer
from fastapi import FastAPI
from fastapi.testclient import TestClient

import app.main
from app.__main__ import build_parser
from app.main import create_app
from app.settings import DOC_MARKERS, Settings, default_text, settings_markdown

from .conftest import make_client, png_file, wait_ready

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"


def _lut(lut_bytes):
    return {"file": ("S230101.LUT.gz", lut_bytes, "application/octet-stream")}


def _documented_status_table() -> dict[tuple[str, str], set[int]]:
    """docs/api.md's "Status codes by route" table: (METHOD, path) -> statuses."""
    section = API_DOC.read_text().split("## Status codes by route", 1)[1].split("\n#", 1)[0]
    table = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(GET|POST|PUT|DELETE) ([^`]+)`\s*\|\s*([0-9, ]+)\|", line)
        if m:
            table[(m.group(1), m.group(2))] = {int(code) for code in m.group(3).split(",")}
    return table


def test_the_api_docs_status_table_is_the_openapi_document(client):
    documented = {
        (method.upper(), path): {int(code) for code in op["responses"]}
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method, op in item.items()
    }
    table = _documented_status_table()
    assert table, "docs/api.md has no 'Status codes by route' table"
    assert table == documented


def test_every_error_is_documented_with_the_error_body(client):
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(doc)
    assert {"/metrics", "/v2/health/live", "/v2/health/ready", "/livez", "/readyz"} <= set(doc["paths"])
    for item in doc["paths"].values():
        for op in item.values():
            for code, response in op["responses"].items():
                assert "X-Request-ID" in response["headers"]
                if int(code) >= 400 and op["tags"] != ["health"]:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (code, op["operationId"])
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error"]


def test_handlers_keep_headers_and_health_answers_head(client):
    r = client.get("/predict")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json() == {"error": "GET is not allowed here; use POST"}
    assert client.get("/nope").json() == {"error": "no such path; the service's routes are listed at /docs"}
    for path in ("/livez", "/readyz", "/v2/health/live", "/v2/health/ready"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""


def test_request_ids_are_echoed_or_made(client):
    r = client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = client.get("/nope", headers={"X-Request-ID": "x" * 500})
    assert made.status_code == 404 and re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


def test_an_unexpected_error_is_a_500_that_says_it_closes_the_connection_and_is_logged_once(store, caplog):
    app = create_app(Settings(model_store=store, models=[], inference_path="eager", batch_size_autotune=False))

    def boom():
        raise RuntimeError("/secret/path exploded")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=True) as c:  # an error reaching the server would be raised here
        r = c.get("/boom", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.json() == {"error": "internal error; the server log has details"}
    assert r.headers["connection"] == "close" and r.headers["x-request-id"] == "req-500"
    logged = [rec for rec in caplog.records if rec.exc_info and "exploded" in str(rec.exc_info[1])]
    assert len(logged) == 1 and logged[0].getMessage() == "unhandled error"


@pytest.mark.parametrize(
    "data, files, message",
    [
        ({"file": "hello"}, None, "form field 'file' must be an uploaded file"),
        ({}, None, "form field 'file' is required"),
        ({"hop_hours": "nan"}, "lut", "invalid form field 'hop_hours': must be a number written plainly, such as 6 or "
                                      "0.5; got 'nan'"),
        ({"hop_hours": "inf"}, "lut", "written plainly"),
        ({"hop_hours": "1_0"}, "lut", "must be a number written plainly, such as 6 or 0.5; got '1_0'"),
        ({"hop_hours": " 6"}, "lut", "got ' 6'"),
        ({"hop_hours": "+6"}, "lut", "got '+6'"),
        ({"hop_hours": "06"}, "lut", "got '06'"),
        ({"hop_hours": "30"}, "lut", "less than or equal to 24"),
    ],
)
def test_refusals_say_what_was_wrong(client, lut_bytes, data, files, message):
    r = client.post("/analyze", data=data, files=_lut(lut_bytes) if files else None)
    assert r.status_code == 400 and message in r.json()["error"], r.json()


def test_format_names_are_case_insensitive(client, data_dir, lut_bytes):
    iaga = {"file": ("x.sec", (data_dir / "BOU20200101vsec.sec").read_bytes(), "text/plain")}
    r = client.post("/analyze", files=iaga, data={"format": "IAGA2002"})
    assert r.status_code == 422 and "covers 0.25 h" in r.json()["error"]  # read as IAGA-2002, then too short
    assert client.post("/analyze", files=_lut(lut_bytes), data={"format": " FRG604RC "}).status_code == 200


def test_upload_limit_refusals_are_counted_and_close_the_connection(store, lut_bytes):
    with make_client(model_store=store, max_upload_mb=0.1) as c:
        wait_ready(c)
        r = c.post("/analyze", files=_lut(lut_bytes))
        assert r.status_code == 413 and r.headers["connection"] == "close" and "x-request-id" in r.headers
        metrics = c.get("/metrics").text
        assert 'precursor_http_requests_total{method="POST",route="/analyze",status="413"} 1.0' in metrics


def test_module_level_app_for_uvicorn_and_fastapi_run():
    assert "app" in dir(app.main)  # fastapi run looks for it with dir()
    served = uvicorn.importer.import_from_string("app.main:app")
    assert isinstance(served, FastAPI) and served is app.main.app
    assert served.title == "Magnetometer precursor service"


def test_help_is_plain_text_with_every_setting_and_its_default():
    text = build_parser().format_help()
    assert "``" not in text and "usage: python -m app" in text
    for line in ("PRECURSOR_API_KEY [unset]", "PRECURSOR_BODY_TIMEOUT_S [60.0]", "PRECURSOR_SHUTDOWN_TIMEOUT_S [15.0]",
                 "PRECURSOR_LOG_FORMAT [text]", "PRECURSOR_MAX_CONNECTIONS [100]"):
        assert line in text


def test_every_setting_is_in_the_container_env_example():
    names = {f"PRECURSOR_{name.upper()}" for name in Settings.model_fields}
    example_path = ROOT / "docker" / "precursor.env.example"
    example = {line.split("=", 1)[0] for line in example_path.read_text().splitlines() if line.startswith("PRECURSOR_")}
    assert example == names
    parsed = Settings(_env_file=example_path)  # the example's values are valid as they stand
    assert parsed.api_key is None and parsed.log_format == "text"


def test_the_operations_docs_settings_table_is_generated_from_settings():
    begin, end = DOC_MARKERS
    page = OPERATIONS_DOC.read_text()
    assert begin in page and end in page, f"docs/operations.md lacks the settings markers {begin} ... {end}"
    table = page.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    assert table == settings_markdown(), (
        "docs/operations.md's settings table differs from app/settings.py; regenerate it with "
        "`python -m app.settings docs/operations.md`")


def test_the_settings_table_has_every_setting_with_its_help_default():
    rows = settings_markdown().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [f"PRECURSOR_{name.upper()}" for name in Settings.model_fields]
    help_text = build_parser().format_help()
    for name, row in zip(Settings.model_fields, rows):
        assert f"PRECURSOR_{name.upper()} [{default_text(name)}]" in help_text  # the same default as --help
        assert row.split(" | ")[1] == default_text(name).replace("<", "&lt;").replace(">", "&gt;")
    assert "<" not in settings_markdown()  # no raw angle brackets: Markdown would drop them as tags


def test_the_settings_table_is_written_between_the_markers(tmp_path):
    from app.settings import main

    page = tmp_path / "page.md"
    page.write_text(f"intro\n{DOC_MARKERS[0]}\nstale\n{DOC_MARKERS[1]}\noutro\n")
    main([str(page)])
    assert page.read_text() == f"intro\n{DOC_MARKERS[0]}\n{settings_markdown()}{DOC_MARKERS[1]}\noutro\n"


def test_not_ready_while_loading_says_when_to_retry(store, lut_png):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    loading = TestClient(create_app(Settings(model_store=store)))  # no lifespan: the model stays "loading"
    r = loading.post("/predict", files=png_file(lut_png))
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json() == {"error": "model not ready: model is loading"}
