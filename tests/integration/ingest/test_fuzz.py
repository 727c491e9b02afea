"""Fuzzing the API from its own OpenAPI document (schemathesis): no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from senae_tracking.services.ingest.app import create_app
from senae_tracking.services.ingest.publisher import Publisher
from senae_tracking.shared.settings import Settings
from tests.integration.ingest.conftest import API_KEY, create_topic, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_target(kafka_bootstrap: str) -> Iterator[tuple[str, dict[str, object]]]:
    """The API on a real port (own topic) and its OpenAPI document."""
    config = Settings(kafka_bootstrap=kafka_bootstrap, kafka_profile="local", kafka_partitions=2,
                      ingest_api_keys=API_KEY)
    topic = create_topic(config, partitions=2)
    with serving(create_app(config, publisher_factory=lambda s: Publisher(s, topic=topic))) as url:
        yield url, httpx.get(f"{url}/openapi.json").json()


@pytest.mark.parametrize(("authorized", "mode"), [
    (True, GenerationMode.POSITIVE), (True, GenerationMode.NEGATIVE), (False, GenerationMode.POSITIVE),
])
def test_no_input_causes_a_server_error(fuzz_target: tuple[str, dict[str, object]], authorized: bool,
                                        mode: GenerationMode) -> None:
    url, spec = fuzz_target
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {API_KEY}"} if authorized else {}
    operations = [op.ok() for op in schema.get_all_operations()]  # type: ignore[union-attr]
    if mode == GenerationMode.NEGATIVE:  # endpoints without parameters have no invalid input
        operations = [op for op in operations if op.path == "/v1/stage-events"]
    assert any(op.path == "/v1/stage-events" for op in operations)
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=120 if operation.path == "/v1/stage-events" else 10, deadline=None,
                  suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=url, headers=headers)
            assert response.status_code < 500, (case.body, response.text)

        check()
