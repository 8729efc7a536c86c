"""Talking to the probed service outside the load: its address, stock, reset and calibration.

Only loopback targets are accepted (127.0.0.1, localhost, ::1): a probe is a
load test, and load goes nowhere but this machine. Every call is bounded in
time and in the bytes read, and every failure is one ``TargetError`` line that
says which call failed and why (not reachable, not JSON, no such pointer).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from checkoutsim.probe.adapter import Adapter, AdapterError, Call, fill, fill_path

#: Hosts a probe may load.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The most bytes read from one control answer.
MAX_ANSWER_BYTES = 1_000_000
#: Time allowed for one control call (stock, reset, calibration), in seconds.
CALL_TIMEOUT_S = 5.0


class TargetError(AdapterError):
    """The target cannot be probed as the adapter describes; one line."""


def base_url(url: str) -> str:
    """``url`` as ``http://HOST:PORT`` if it is a loopback HTTP address, else a ``TargetError``."""
    if len(url) > 2000:
        raise TargetError("URL: longer than 2,000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"URL {url!r}: expected http://HOST:PORT")
    if parts.hostname not in LOOPBACK:
        raise TargetError(
            f"URL {url!r}: probe loads only this machine (127.0.0.1, localhost or ::1), "
            f"not {parts.hostname}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise TargetError(f"URL {url!r}: give the server only (the adapter names the paths)")
    try:
        port = parts.port
    except ValueError as error:
        raise TargetError(f"URL {url!r}: {error}") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


@dataclass(frozen=True)
class Answer:
    """One answer: status, parsed JSON (None if not JSON), seconds taken."""

    status: int
    body: Any
    seconds: float
    content_type: str
    raw: bytes


def request(
    base: str, call: Call, values: dict[str, Any], timeout_s: float = CALL_TIMEOUT_S
) -> Answer:
    """Make one call; a refused or timed-out connection is a ``TargetError``."""
    path = fill_path(call.path, values)
    data = None
    headers = {key: str(fill(value, values)) for key, value in call.headers.items()}
    if call.json_body is not None:
        data = json.dumps(fill(call.json_body, values)).encode()
        headers.setdefault("Content-Type", "application/json")
    prepared = urllib.request.Request(base + path, data=data, method=call.method, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(prepared, timeout=timeout_s) as response:
            status, raw, kind = response.status, response.read(MAX_ANSWER_BYTES), response.headers
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(MAX_ANSWER_BYTES), error.headers
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise TargetError(f"{base}: not reachable ({call.method} {path}: {reason})") from None
    seconds = time.perf_counter() - started
    content_type = (kind.get("Content-Type") or "").split(";")[0].strip()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Answer(status, body, seconds, content_type, raw)


def _show(raw: bytes) -> str:
    text = raw[:60].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > 60 else ""))


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer, or ``KeyError`` naming the missing part."""
    if pointer == "":
        return document
    value = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                raise KeyError(token)
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(token)
    return value


def read_stock(base: str, adapter: Adapter, sku: str) -> int:
    """Units left of ``sku``, as the target's own stock call says."""
    call = adapter.stock
    where = f"stock ({call.method} {fill_path(call.path, {'sku': sku})})"
    answer = request(base, call, {"sku": sku, "quantity": 1, "key": "stock"})
    if answer.body is None:
        kind = answer.content_type or "no content type"
        raise TargetError(
            f"{base}: {where} answered {answer.status} {kind}, not JSON: {_show(answer.raw)}"
        )
    if not 200 <= answer.status < 300:
        raise TargetError(f"{base}: {where} answered {answer.status}: {_show(answer.raw)}")
    pointer = fill(call.pointer, {"sku": sku.replace("~", "~0").replace("/", "~1")})
    try:
        value = resolve_pointer(answer.body, pointer)
    except KeyError as missing:
        keys = ", ".join(list(answer.body)[:8]) if isinstance(answer.body, dict) else "none"
        raise TargetError(
            f"{base}: stock.pointer {pointer!r}: no {missing.args[0]!r} in the answer of "
            f"{where} (its keys: {keys})"
        ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TargetError(
            f"{base}: stock.pointer {pointer!r} points at {_show(repr(value).encode())}, "
            "not a whole number of units"
        )
    return int(value)


def stock_levels(base: str, adapter: Adapter) -> list[int]:
    """Units left of every SKU in the catalog, in catalog order."""
    return [read_stock(base, adapter, sku) for sku in adapter.catalog.skus]


def reset(base: str, adapter: Adapter) -> None:
    """Call the adapter's reset, if it has one; a non-2xx answer is a ``TargetError``."""
    if adapter.reset is None:
        return
    answer = request(
        base, adapter.reset, {"sku": adapter.catalog.skus[0], "quantity": 1, "key": "reset"}
    )
    if not 200 <= answer.status < 300:
        raise TargetError(
            f"{base}: reset ({adapter.reset.method} {adapter.reset.path}) answered "
            f"{answer.status}: {_show(answer.raw)}"
        )


def classify(adapter: Adapter, status: int, body: Callable[[], Any]) -> str:
    """``ordered``, ``sold_out`` or ``error`` for a checkout answer (``body()`` parses it)."""
    checkout = adapter.checkout
    if status in checkout.sold_out:
        return "sold_out"
    if status not in checkout.ordered:
        return "error"
    if checkout.outcome is None:
        return "ordered"
    try:
        value = resolve_pointer(body(), checkout.outcome)
    except (KeyError, ValueError, TypeError):
        return "error"
    if value in checkout.ordered_outcomes:
        return "ordered"
    if value in checkout.sold_out_outcomes:
        return "sold_out"
    return "error"


def checkout_once(base: str, adapter: Adapter, sku: str, key: str) -> tuple[str, float]:
    """One checkout of one unit, alone: what it meant and the seconds it took."""
    answer = request(base, adapter.checkout, {"sku": sku, "quantity": 1, "key": key})
    return classify(adapter, answer.status, lambda: answer.body), answer.seconds
