"""A bounded schemathesis run against the live service: no server errors, every response as documented."""

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.settings import Settings

from .conftest import LIVE_KEY, LIVE_SETTINGS

# The document of a service with the live one's settings (collection needs it before the service runs;
# the first test checks that the live service serves the same).
DOCUMENT = create_app(Settings(**LIVE_SETTINGS)).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_live_service_serves_this_document(live_server):
    assert httpx.get(f"{live_server.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_service_answers_as_its_openapi_document_says(case, live_server):
    # Schema-valid uploads are still random bytes (not PNGs or station files), so refusals of them
    # with 4xx are right; every other check runs.
    case.call_and_validate(
        base_url=live_server.url, headers={"X-API-Key": LIVE_KEY}, excluded_checks=[positive_data_acceptance],
        timeout=30,
    )
