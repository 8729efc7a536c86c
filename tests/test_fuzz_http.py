"""Bad HTTP input to ``serve``: each a 4xx with a JSON error, and the audit unchanged.

``BAD_REQUESTS`` is the catalogue of bad inputs with the answer each gets
(asserted, so the list stays true); hypothesis then throws arbitrary bytes and
arbitrary JSON at the endpoint.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkoutsim.real.chaos import audit_store
from checkoutsim.real.http import CheckoutApp
from tests.real_support import service

JSON = {"Content-Type": "application/json"}
GOOD = b'{"sku": "sku-0", "quantity": 1}'
MEGABYTE = 1_000_000


def call(
    app: CheckoutApp,
    body: bytes = GOOD,
    key: str | None = "k-1",
    method: str = "POST",
    path: str = "/checkout",
    headers: dict[str, str] | None = None,
    length: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request through the WSGI app, as gevent's server would pass it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": (headers or JSON).get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": io.BytesIO(body),
    }
    if key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = key
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    payload = json.loads(b"".join(app(environ, start_response)))
    assert answer["headers"]["Content-Type"] == "application/json"
    return answer["status"], payload


@pytest.fixture
def app(tmp_path: Path) -> Iterator[CheckoutApp]:
    shop, _ = service(tmp_path)
    yield CheckoutApp(shop, "test", "default", lambda function, *args: function(*args))
    shop.close()


def audit_counts(app: CheckoutApp) -> dict[str, Any]:
    """What a bad request must not move: the audit's verdicts, money, orders and stock."""
    checks, metrics = audit_store(app.service)
    verdicts = {check["invariant"]: (check["status"], check["count"]) for check in checks}
    return {"checks": verdicts, **metrics, "stock": app.service.stock()}


#: (what is wrong, keyword arguments of ``call``, status, words of the error)
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("malformed JSON", {"body": b'{"sku": '}, 400, "not valid JSON"),
    ("invalid UTF-8", {"body": b'{"sku": "\xff"}'}, 400, "not valid JSON"),
    ("a JSON array", {"body": b"[1, 2]"}, 400, "JSON object"),
    ("JSON null", {"body": b"null"}, 400, "JSON object"),
    ("empty body", {"body": b""}, 400, "JSON"),
    ("deeply nested JSON", {"body": b"[" * 4000 + b"]" * 4000}, 400, "JSON"),
    ("missing sku", {"body": b'{"quantity": 1}'}, 400, "sku"),
    ("missing quantity", {"body": b'{"sku": "sku-0"}'}, 400, "quantity"),
    ("sku of the wrong type", {"body": b'{"sku": 0, "quantity": 1}'}, 400, "sku"),
    ("quantity as a string", {"body": b'{"sku": "sku-0", "quantity": "1"}'}, 400, "quantity"),
    ("quantity as a float", {"body": b'{"sku": "sku-0", "quantity": 1.5}'}, 400, "quantity"),
    ("quantity as a boolean", {"body": b'{"sku": "sku-0", "quantity": true}'}, 400, "quantity"),
    ("unknown SKU", {"body": b'{"sku": "sku-999", "quantity": 1}'}, 404, "no such sku"),
    ("SKU with a leading zero", {"body": b'{"sku": "sku-00", "quantity": 1}'}, 404, "no such sku"),
    ("zero quantity", {"body": b'{"sku": "sku-0", "quantity": 0}'}, 422, "quantity"),
    ("negative quantity", {"body": b'{"sku": "sku-0", "quantity": -3}'}, 422, "quantity"),
    ("huge quantity", {"body": b'{"sku": "sku-0", "quantity": 1e400}'}, 400, "quantity"),
    ("unknown field", {"body": b'{"sku": "sku-0", "quantity": 1, "price": 0}'}, 400, "price"),
    ("body over 1 MB", {"body": b"{" + b" " * MEGABYTE + b"}"}, 413, "larger than"),
    ("lying Content-Length", {"length": str(10 * MEGABYTE)}, 413, "larger than"),
    ("non-numeric Content-Length", {"length": "lots"}, 411, "Content-Length"),
    ("not JSON content type", {"headers": {"Content-Type": "text/plain"}}, 415, "Content-Type"),
    ("missing Idempotency-Key", {"key": None}, 400, "Idempotency-Key"),
    ("empty Idempotency-Key", {"key": ""}, 400, "Idempotency-Key"),
    ("overlong Idempotency-Key", {"key": "k" * 256}, 400, "Idempotency-Key"),
    ("control character in the key", {"key": "k\x01"}, 400, "Idempotency-Key"),
    ("GET /checkout", {"method": "GET", "body": b""}, 405, "POST"),
    ("unknown path", {"path": "/admin"}, 404, "no route"),
]


@pytest.mark.parametrize(
    ("problem", "request_args", "status", "words"),
    BAD_REQUESTS,
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_each_catalogued_bad_request_gets_its_4xx_and_changes_nothing(
    app: CheckoutApp, problem: str, request_args: dict[str, Any], status: int, words: str
) -> None:
    before = audit_counts(app)
    answer, payload = call(app, **request_args)
    assert (answer, set(payload)) == (status, {"error"}), (problem, payload)
    assert words in payload["error"], (problem, payload)
    assert audit_counts(app) == before


def test_a_key_reused_with_another_body_is_422_and_changes_nothing(app: CheckoutApp) -> None:
    status, first = call(app, GOOD, key="reused")
    assert status == 200 and first["status"] == "ordered"
    before = audit_counts(app)
    status, payload = call(app, b'{"sku": "sku-0", "quantity": 1, "intent": 5}', key="reused")
    assert status == 422 and "different parameters" in payload["error"]
    assert call(app, GOOD, key="reused") == (200, first)  # the first answer, replayed
    assert audit_counts(app) == before


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_get_a_4xx_json_error(app: CheckoutApp, body: bytes) -> None:
    before = audit_counts(app)
    status, payload = call(app, body, key="fuzz")
    if status == 200:  # the bytes happened to be a valid checkout: nothing to check here
        return
    assert 400 <= status < 500 and "error" in payload, (body, status, payload)
    assert audit_counts(app) == before


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {}, optional={"sku": JSON_VALUES | st.just("sku-0"), "quantity": JSON_VALUES}
    ),
    extra=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2),
)
def test_arbitrary_json_objects_get_a_4xx_or_a_checkout(
    app: CheckoutApp, fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    body = json.dumps({**extra, **fields}).encode()
    status, payload = call(app, body, key=f"fuzz-{body!r}"[:255])
    if status == 200:
        assert payload["status"] in {"ordered", "sold_out", "rejected", "payment_failed"}
    else:
        assert 400 <= status < 500 and set(payload) == {"error"}, (body, status, payload)
