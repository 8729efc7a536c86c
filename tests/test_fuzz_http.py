"""Bad HTTP input to ``serve``: each a 4xx with a JSON error, and the audit unchanged.

``BAD_REQUESTS`` is the catalogue of bad inputs with the answer each gets
(asserted, so the list stays true); hypothesis then throws arbitrary bytes,
arbitrary JSON, SKU names, text encodings and framing headers at the endpoint:
no answer is ever a 500, and no error message carries an exception's text. The
same over real sockets, with the server's own time-outs, is in
``test_serve_limits``.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checkoutsim.real.chaos import audit_store
from checkoutsim.real.http import CheckoutApp
from tests.real_support import service
from tests.real_support import settings as real_settings

JSON = {"Content-Type": "application/json"}
GOOD = b'{"sku": "sku-0", "quantity": 1}'
MEGABYTE = 1_000_000
#: The name of a Python exception, which no error message may carry.
EXCEPTION_NAME = re.compile(r"\b\w*(Error|Exception)\b|Traceback")


def call(
    app: CheckoutApp,
    body: bytes = GOOD,
    key: str | None = "k-1",
    method: str = "POST",
    path: str = "/checkout",
    headers: dict[str, str] | None = None,
    length: str | None = None,
    stream: Any = None,
) -> tuple[int, dict[str, Any]]:
    """One request through the WSGI app, as gevent's server would pass it.

    ``headers`` other than Content-Type become ``HTTP_*`` variables; ``stream``
    replaces the body's reader.
    """
    headers = JSON if headers is None else headers
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": io.BytesIO(body) if stream is None else stream,
    }
    for name, value in headers.items():
        if name != "Content-Type":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    if key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = key
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    payload = json.loads(b"".join(app(environ, start_response)))
    assert answer["headers"]["Content-Type"] == "application/json"
    if "error" in payload:
        assert not EXCEPTION_NAME.search(payload["error"]), payload
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
    ("invalid UTF-8", {"body": b'{"sku": "\xff"}'}, 400, "not valid UTF-8 JSON"),
    ("Latin-1 text", {"body": '{"sku": "sk\u00e9"}'.encode("latin-1")}, 400, "UTF-8"),
    ("UTF-8 byte-order mark", {"body": b"\xef\xbb\xbf" + GOOD}, 400, "byte-order mark"),
    ("UTF-16 body", {"body": GOOD.decode().encode("utf-16")}, 415, "UTF-8"),
    ("UTF-16 body, no BOM", {"body": GOOD.decode().encode("utf-16-le")}, 415, "UTF-8"),
    ("UTF-32 body", {"body": GOOD.decode().encode("utf-32-be")}, 415, "UTF-8"),
    (
        "charset=utf-16",
        {"headers": {"Content-Type": "application/json; charset=utf-16"}},
        415,
        "UTF-8",
    ),
    ("NaN", {"body": b'{"sku": "sku-0", "quantity": NaN}'}, 400, "not valid JSON"),
    (
        "duplicate field",
        {"body": b'{"sku": "sku-0", "quantity": 1, "quantity": 2}'},
        400,
        "more than once",
    ),
    ("overlong field name", {"body": b'{"' + b"f" * 65 + b'": 1}'}, 400, "field names"),
    ("a JSON array", {"body": b"[1, 2]"}, 400, "JSON object"),
    ("JSON null", {"body": b"null"}, 400, "JSON object"),
    ("empty body", {"body": b""}, 400, "JSON"),
    ("deeply nested JSON", {"body": b"[" * 4000 + b"]" * 4000}, 400, "JSON"),
    ("missing sku", {"body": b'{"quantity": 1}'}, 400, "sku"),
    ("missing quantity", {"body": b'{"sku": "sku-0"}'}, 400, "quantity"),
    ("sku of the wrong type", {"body": b'{"sku": 0, "quantity": 1}'}, 400, "sku must be a string"),
    (
        "superscript digit in the SKU",
        {"body": '{"sku": "sku-\u00b2", "quantity": 1}'.encode()},
        404,
        "no such sku",
    ),
    (
        "Arabic-Indic SKU digit",
        {"body": '{"sku": "sku-\u0663", "quantity": 1}'.encode()},
        404,
        "no such sku",
    ),
    (
        "full-width SKU digit",
        {"body": '{"sku": "sku-\uff11", "quantity": 1}'.encode()},
        404,
        "no such sku",
    ),
    ("SKU with a sign", {"body": b'{"sku": "sku-+1", "quantity": 1}'}, 404, "no such sku"),
    ("SKU with an underscore", {"body": b'{"sku": "sku-1_0", "quantity": 1}'}, 404, "no such sku"),
    (
        "4,301-digit SKU",
        {"body": b'{"sku": "sku-' + b"1" * 4301 + b'", "quantity": 1}'},
        400,
        "sku",
    ),
    ("25-character SKU", {"body": b'{"sku": "sku-' + b"1" * 21 + b'", "quantity": 1}'}, 400, "sku"),
    (
        "4,301-digit quantity",
        {"body": b'{"sku": "sku-0", "quantity": ' + b"9" * 4301 + b"}"},
        400,
        "digits",
    ),
    ("quantity as a string", {"body": b'{"sku": "sku-0", "quantity": "1"}'}, 400, "quantity"),
    ("quantity as a float", {"body": b'{"sku": "sku-0", "quantity": 1.5}'}, 400, "quantity"),
    ("quantity as a boolean", {"body": b'{"sku": "sku-0", "quantity": true}'}, 400, "quantity"),
    ("unknown SKU", {"body": b'{"sku": "sku-999", "quantity": 1}'}, 404, "no such sku"),
    ("SKU with a leading zero", {"body": b'{"sku": "sku-00", "quantity": 1}'}, 404, "no such sku"),
    # A short string of another form names no SKU: 404, not "must be like sku-0".
    ("SKU of another form", {"body": b'{"sku": "nope", "quantity": 1}'}, 404, 'no such sku "nope"'),
    ("zero quantity", {"body": b'{"sku": "sku-0", "quantity": 0}'}, 422, "quantity"),
    ("negative quantity", {"body": b'{"sku": "sku-0", "quantity": -3}'}, 422, "quantity"),
    ("huge quantity", {"body": b'{"sku": "sku-0", "quantity": 1e400}'}, 400, "quantity"),
    ("unknown field", {"body": b'{"sku": "sku-0", "quantity": 1, "price": 0}'}, 400, "price"),
    ("body over 1 MB", {"body": b"{" + b" " * MEGABYTE + b"}"}, 413, "larger than"),
    ("lying Content-Length", {"length": str(10 * MEGABYTE)}, 413, "larger than"),
    ("non-numeric Content-Length", {"length": "lots"}, 400, "Content-Length"),
    ("Content-Length 1_0", {"length": "1_0"}, 400, "Content-Length"),
    ("Content-Length +31", {"length": "+31"}, 400, "Content-Length"),
    ("non-ASCII Content-Length", {"length": "\u0663\u0661"}, 400, "Content-Length"),
    ("missing Content-Length", {"length": ""}, 411, "Content-Length"),
    ("body shorter than its Content-Length", {"length": "40"}, 400, "shorter"),
    (
        "Transfer-Encoding",
        {"headers": {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}},
        411,
        "Transfer-Encoding",
    ),
    ("not JSON content type", {"headers": {"Content-Type": "text/plain"}}, 415, "Content-Type"),
    ("missing Idempotency-Key", {"key": None}, 400, "Idempotency-Key"),
    ("empty Idempotency-Key", {"key": ""}, 400, "Idempotency-Key"),
    ("overlong Idempotency-Key", {"key": "k" * 256}, 400, "Idempotency-Key"),
    ("control character in the key", {"key": "k\x01"}, 400, "Idempotency-Key"),
    ("GET /checkout", {"method": "GET", "body": b""}, 405, "POST"),
    ("unknown path", {"path": "/admin"}, 404, "no route"),
    ("a 10 KB path", {"path": "/" + "a" * 10_000}, 404, "no route"),
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


class SlowBody(io.RawIOBase):
    """A body whose reader hits the server's body time-out."""

    def read(self, size: int = -1) -> bytes:
        raise TimeoutError("a server's message about its own time-out")


def test_a_body_the_server_timed_out_is_408(app: CheckoutApp) -> None:
    before = audit_counts(app)
    assert call(app, stream=SlowBody()) == (408, {"error": "request body not received in time"})
    assert audit_counts(app) == before


def test_an_internal_error_is_a_generic_500_and_its_text_goes_to_the_log(
    app: CheckoutApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("secret detail /var/lib/shop.sqlite")

    monkeypatch.setattr(app.service, "stock", broken)
    with caplog.at_level(logging.ERROR, logger="checkoutsim.http"):
        status, payload = call(app, b"", method="GET", path="/stock")
    assert status == 500 and "secret" not in payload["error"]
    reference = re.search(r"reference (\w+)", payload["error"])
    assert reference, payload
    logged = [record for record in caplog.records if reference.group(1) in record.getMessage()]
    assert logged and "secret detail" in caplog.text


def test_a_key_reused_with_another_body_is_422_and_changes_nothing(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, real_settings(catalog={"skus": 2}))
    app = CheckoutApp(shop, "test", "default", lambda function, *args: function(*args))
    status, first = call(app, GOOD, key="reused")
    assert status == 200 and first["status"] == "ordered"
    before = audit_counts(app)
    status, payload = call(app, b'{"sku": "sku-1", "quantity": 1}', key="reused")
    assert status == 422 and "different parameters" in payload["error"]
    assert call(app, GOOD, key="reused") == (200, first)  # the first answer, replayed
    assert audit_counts(app) == before
    shop.close()


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


#: SKU-like names: ASCII and other digits, signs, spaces, and long runs.
SKU_NAMES = st.one_of(
    st.from_regex(r"sku-[0-9]{1,30}", fullmatch=True),
    st.builds(lambda text: "sku-" + text, st.text(max_size=12)),
    st.builds(
        lambda digits: "sku-" + digits,
        st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
    ),
    st.just("sku-" + "7" * 4301),
)


@FUZZ
@given(sku=SKU_NAMES, quantity=st.integers() | st.text(max_size=5))
def test_arbitrary_sku_names_get_a_4xx_or_a_checkout(
    app: CheckoutApp, sku: str, quantity: Any
) -> None:
    body = json.dumps({"sku": sku, "quantity": quantity}).encode()
    status, payload = call(app, body, key="fuzz-sku")
    assert status == 200 or 400 <= status < 500, (sku, status, payload)


@FUZZ
@given(
    fields=st.fixed_dictionaries({"sku": st.just("sku-0"), "quantity": st.integers(1, 3)}),
    encoding=st.sampled_from(
        ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"]
    ),
    text=st.text(max_size=10),
)
# latin-1's bytes for "Â\x80" are UTF-8's for "\x80": valid UTF-8, so read as such.
@example(fields={"sku": "sku-0", "quantity": 1}, encoding="latin-1", text="Â\x80")
def test_a_body_in_any_encoding_is_only_taken_as_utf_8(
    app: CheckoutApp, fields: dict[str, Any], encoding: str, text: str
) -> None:
    document = json.dumps({**fields, "note": text}, ensure_ascii=False)
    try:
        body = document.encode(encoding)
    except UnicodeEncodeError:
        return  # the text has no spelling in this encoding
    status, payload = call(app, body, key="fuzz-encoding")
    assert 400 <= status < 500, (encoding, status, payload)
    if not _plain_utf_8(body):
        # Not UTF-8 (or with a BOM): refused for its bytes, before the unknown field.
        # (Other encodings' bytes can also be valid UTF-8 of another text, such as
        # latin-1's "Â\x80", which is UTF-8's "\x80": those are read as UTF-8.)
        assert "note" not in payload["error"], (encoding, payload)


def _plain_utf_8(body: bytes) -> bool:
    """Is ``body`` valid UTF-8 without a byte-order mark?"""
    if body.startswith(codecs.BOM_UTF8):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(
    content_type=st.text(max_size=40) | st.sampled_from(["application/json; charset=UTF-8"]),
    length=st.text(max_size=8) | st.integers(-5, 100).map(str),
    method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS"]),
    path=st.sampled_from(["/checkout", "/health", "/stock", "/audit"]) | st.text(max_size=30),
)
def test_arbitrary_framing_headers_never_get_a_500(
    app: CheckoutApp, content_type: str, length: str, method: str, path: str
) -> None:
    status, payload = call(
        app, GOOD, method=method, path=path, headers={"Content-Type": content_type}, length=length
    )
    assert status < 500, (content_type, length, method, path, payload)
