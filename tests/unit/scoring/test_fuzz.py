"""Property-based fuzz of the data plane: 1,000+ generated requests, never a 5xx, always the error shape."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_bundles import credit_records
from scoring_client import started_client

from driftloop.registry import Registry
from driftloop.telemetry.settings import BusSettings
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import LimitsSettings, ScoringRegistrySettings, ScoringSettings

COLUMNS = list(credit_records(1)[0])
# orjson writes 64-bit integers; bigger ones are sent as raw text by the last strategy below.
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Records that are mostly right: a real record with some columns dropped, retyped or added.
records = st.builds(
    lambda base, edits, drops: {**{k: v for k, v in base.items() if k not in drops}, **edits},
    st.sampled_from(credit_records(20, seed=3)),
    st.dictionaries(st.sampled_from([*COLUMNS, "extra", ""]), json_values, max_size=3),
    st.sets(st.sampled_from(COLUMNS), max_size=2),
)
predict_bodies = st.one_of(
    st.builds(lambda rs: {"records": rs}, st.lists(records | json_values, max_size=4)),
    st.builds(lambda v: {"records": v}, json_values),
    json_values,
)
feedback_bodies = st.one_of(
    st.fixed_dictionaries({"request_id": json_values, "actual": json_values}, optional={"record_index": json_values}),
    st.lists(st.fixed_dictionaries({"id": st.text(max_size=12), "actual": json_values}), max_size=3),
    json_values,
)


def _tensor(name: str, datatype: Any, shape: Any, data: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


infer_bodies = st.one_of(
    st.builds(
        lambda inputs, outputs: {"inputs": inputs, **({"outputs": outputs} if outputs is not None else {})},
        st.lists(
            st.builds(
                _tensor,
                st.sampled_from([*COLUMNS, "nope"]),
                st.sampled_from(["FP32", "BYTES", "INT64", "BOOL", "FP64", "x"]) | json_values,
                st.lists(st.integers(-2, 3), max_size=3) | json_values,
                st.lists(json_scalars | st.lists(json_scalars, max_size=2), max_size=3) | json_values,
            ),
            max_size=5,
        ),
        st.none() | st.lists(st.fixed_dictionaries({"name": json_values}), max_size=2),
    ),
    json_values,
)
requests = st.one_of(
    st.tuples(st.just("/v1/models/credit/predict"), predict_bodies.map(orjson.dumps)),
    st.tuples(
        st.sampled_from(["/v1/models/purpose/predict", "/v1/models/rate/predict"]), predict_bodies.map(orjson.dumps)
    ),
    st.tuples(
        st.sampled_from(["/v1/models/credit/feedback", "/v1/models/rate/feedback"]), feedback_bodies.map(orjson.dumps)
    ),
    st.tuples(
        st.sampled_from(["/v2/models/credit/infer", "/v2/models/rate/versions/1/infer"]), infer_bodies.map(orjson.dumps)
    ),
    st.tuples(
        st.sampled_from(["/v1/models/credit/predict", "/v2/models/credit/infer", "/v1/models/x/versions/ab/predict"]),
        st.binary(max_size=64) | st.just(b'{"records": [{"age": 1' + b"0" * 400 + b"}]}"),
    ),
)


Post = Callable[[str, bytes], httpx.Response]


@pytest.fixture(scope="module")
def post(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Post]:
    """A blocking ``post(path, body)`` into one running app (hypothesis drives synchronous tests)."""
    home: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        ScoringSettings(
            registry=ScoringRegistrySettings(path=registry.root, poll_interval_s=0),
            bus=BusSettings(url=f"sqlite:///{home}/bus.db", spill_path=home / "spill"),
            limits=LimitsSettings(max_records=3),
        )
    )

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[httpx.AsyncClient]:
        async for client in started_client(app):
            yield client

    with anyio.from_thread.start_blocking_portal() as portal, portal.wrap_async_context_manager(running()) as client:
        headers = {"content-type": "application/json"}
        yield lambda path, body: portal.call(lambda: client.post(path, content=body, headers=headers))


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_no_generated_request_gets_a_5xx(post: Post, request: tuple[str, bytes]) -> None:
    path, body = request
    response = post(path, body)
    assert response.status_code < 500, (path, body, response.text)
    payload = response.json()
    if response.status_code != 200:
        error = payload["error"]
        assert isinstance(error, str) if path.startswith("/v2") else {"code", "message"} <= set(error)
