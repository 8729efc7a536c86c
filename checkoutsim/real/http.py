"""The checkout service over HTTP, as a plain WSGI application (no server here).

Routes: ``POST /checkout`` (JSON body, ``Idempotency-Key`` header), ``GET
/audit`` (the audit in the metrics contract; ``?history=1`` adds the raw facts a
remote load test needs), ``GET /stock`` and ``GET /health``. Malformed input gets
a 4xx with ``{"error": ...}`` whose message is the app's own words, never an
exception's text; anything that breaks inside is logged (logger
``checkoutsim.http``) and answered with a generic 500 and a reference to the log
line. Blocking database work goes through ``offload``, so the app never blocks
the server's event loop; the server itself lives in ``checkoutsim.load.server``,
its limits on slow clients in ``checkoutsim.load.bounded``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from checkoutsim.real import records
from checkoutsim.real.request_text import MAX_BODY_BYTES
from checkoutsim.real.service import CheckoutService
from checkoutsim.results.encoding import json_safe

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

log = logging.getLogger(__name__)

#: A Content-Length is ASCII digits only (``int()`` also takes "+1", "1_0", " 1" and "١").
_LENGTH = re.compile(r"[0-9]{1,15}", re.ASCII)
#: How much of a client's path an error message repeats.
_ECHO_CHARACTERS = 64
_ROUTES = {"/checkout": "POST", "/audit": "GET", "/stock": "GET", "/health": "GET"}
#: One encoder for every answer (``json.dumps`` with an option builds a new one per call).
_ENCODER = json.JSONEncoder(allow_nan=False)


class CheckoutApp:
    """WSGI application over one ``CheckoutService``."""

    def __init__(
        self,
        service: CheckoutService,
        scenario: str,
        variant: str,
        offload: Callable[..., Any],
    ) -> None:
        self.service = service
        self.scenario = scenario
        self.variant = variant
        self._offload = offload
        self.in_flight = 0
        #: One row per request that reached the saga: what the server answered, and when.
        self.requests: list[tuple[int, float, int, int, str, float]] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        allowed = _ROUTES.get(path)
        try:
            if allowed is None:
                status, payload = 404, {"error": f"no route {_echo(path)}"}
            elif method != allowed:
                status, payload = 405, {"error": f"{path} takes {allowed}"}
            elif path == "/checkout":
                status, payload = self._checkout(environ)
            elif path == "/health":
                status, payload = 200, self._offload(self._health)
            elif path == "/stock":
                status, payload = 200, self._offload(self.service.stock)
            else:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                history = query.get("history", ["0"])[0] in ("1", "true", "yes")
                status, payload = 200, self._offload(self.audit, history)
        except Exception:  # the server must answer, whatever broke, and say nothing of it
            reference = secrets.token_hex(4)
            log.exception("internal error %s answering %s %s", reference, method, _echo(path))
            status, payload = 500, {"error": f"internal error (reference {reference} in the log)"}
        body = _ENCODER.encode(json_safe(payload)).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if status == 405 and allowed:
            headers.append(("Allow", allowed))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def _checkout(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Read and bound the body, then hand it to the API with the key."""
        refused = _refuse_framing(environ)
        if refused is not None:
            return refused
        length = int(environ["CONTENT_LENGTH"])
        try:
            raw = environ["wsgi.input"].read(length) if length else b""
        except TimeoutError:  # the server's body time-out (``checkoutsim.load.bounded``)
            return 408, {"error": "request body not received in time"}
        except OSError:  # the client closed before sending all it declared
            return 400, {"error": "body shorter than its Content-Length"}
        if len(raw) != length:
            return 400, {"error": "body shorter than its Content-Length"}
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        started = self.service.runtime.time.now()
        self.in_flight += 1
        try:
            status, payload = self.service.api.checkout(key, raw)
        finally:
            self.in_flight -= 1
        if status == 200:
            body = json.loads(raw)
            self.requests.append(
                (
                    payload["intent"],
                    started,
                    int(body["sku"][4:]),
                    body["quantity"],
                    payload["status"],
                    self.service.runtime.time.now(),
                )
            )
        return status, payload

    def _health(self) -> dict[str, Any]:
        """Liveness, what is served, the server's clock, and whether it is untouched."""
        shop = self.service.shop_db.read()
        touched = shop.execute(
            "SELECT (SELECT COUNT(*) FROM requests) + (SELECT COUNT(*) FROM reservations)"
            " + (SELECT COUNT(*) FROM orders) + (SELECT COUNT(*) FROM intent_ids)"
        ).fetchone()[0]
        captures = self.service.gateway_db.read().execute("SELECT COUNT(*) FROM captures")
        return {
            "status": "ok",
            "scenario": self.scenario,
            "variant": self.variant,
            "now_s": self.service.runtime.time.now(),
            "time_scale": self.service.settings.real.time_scale,
            "fresh": touched == 0 and captures.fetchone()[0] == 0,
            "wall_time": time.time(),
        }

    def audit(self, include_history: bool = False) -> dict[str, Any]:
        """The audit of everything this server has done, in the metrics contract."""
        self.service.save_counters()
        facts = records.collect(self.service.store, self.service.ledger)
        now = self.service.runtime.time.now()
        history = records.build_history(
            server_checkouts(self.requests), facts, [], now, self.service.settings.faults
        )
        checks = records.real_audit(history, facts)
        payload: dict[str, Any] = {
            "scenario": self.scenario,
            "variant": self.variant,
            "mode": "real",
            "metrics": records.real_metrics(history, facts, checks, max(now, 1e-9)),
            "audit": [records.check_json(check) for check in checks],
        }
        if include_history:
            payload["history"] = facts.to_json()
        return payload


def _refuse_framing(environ: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The answer to a body that is not UTF-8 JSON of a stated, bounded length; None if it is."""
    kind, _, parameters = environ.get("CONTENT_TYPE", "").partition(";")
    if kind.strip().lower() not in ("", "application/json"):
        return 415, {"error": "Content-Type must be application/json"}
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return 415, {"error": "only UTF-8 JSON is accepted (charset=utf-8)"}
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return 411, {"error": "send the body with a Content-Length, not a Transfer-Encoding"}
    text = environ.get("CONTENT_LENGTH") or ""
    if not text:
        return 411, {"error": "Content-Length required"}
    if not _LENGTH.fullmatch(text):
        return 400, {"error": "Content-Length must be a number of bytes in ASCII digits"}
    if int(text) > MAX_BODY_BYTES:
        return 413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"}
    return None


def _echo(text: str) -> str:
    """A client's text, quoted and cut short, for an error message or a log line."""
    if len(text) > _ECHO_CHARACTERS:
        return repr(text[:_ECHO_CHARACTERS]) + "..."
    return repr(text)


def server_checkouts(rows: list[tuple[int, float, int, int, str, float]]) -> Any:
    """The server's view of checkout intents: the first request of each intent counts."""
    first: dict[int, list[Any]] = {}
    for intent, started, sku, quantity, told, answered in sorted(rows, key=lambda row: row[1]):
        if intent in first:
            first[intent][4] += 1
            continue
        first[intent] = [intent, started, sku, quantity, 1, 1, told, answered]
    return records.checkout_frame(list(first.values()))
