"""The checkout API: validation, Stripe's key rules, and each payment strategy's race.

Two requests are interleaved one operation at a time through the service's own
executor handlers, so a race is written down exactly: no threads, no sleeps.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from checkoutsim.policy import ops
from checkoutsim.real.api import checkout_steps, parse_body
from checkoutsim.real.runtime import Pause
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService
from tests.real_support import body, service, settings


def stepwise(shop: CheckoutService, key: str, data: dict[str, Any]) -> Generator[Any, None, Any]:
    """A request as a generator of operations, each executed when the test resumes it."""
    parsed = parse_body(data, shop.settings)
    saga = SagaContext(-1, key)
    steps = checkout_steps(shop.settings.payment.strategy, key, parsed, saga, shop._saga)
    value: Any = None
    while True:
        try:
            operation = steps.send(value)
        except StopIteration as stop:
            return stop.value
        yield operation
        value = shop.executor.handlers[type(operation)](operation, saga)
        while isinstance(value, Pause):
            value = value.resume()


def run_until(request: Generator[Any, None, Any], kind: type) -> None:
    """Advance a request until its next operation is of ``kind`` (not yet executed)."""
    for operation in request:
        if isinstance(operation, kind):
            return
    raise AssertionError(f"the request never reached {kind.__name__}")


def finish(request: Generator[Any, None, Any]) -> Any:
    """Run a request to its answer."""
    try:
        while True:
            next(request)
    except StopIteration as stop:
        return stop.value


def test_malformed_input_gets_a_4xx_and_an_error(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    cases = [
        (None, body(), 400),
        ("k", b"{not json", 400),
        ("k", b"[1, 2]", 400),
        ("k", {"sku": "sku-0"}, 400),
        ("k", {"sku": "sku-9", "quantity": 1}, 404),
        ("k", {"sku": 0, "quantity": 1}, 400),
        ("k", {"sku": "sku-0", "quantity": 0}, 422),
        ("k", {"sku": "sku-0", "quantity": True}, 400),
        ("k", {"sku": "sku-0", "quantity": 1, "colour": "red"}, 400),
        ("x" * 300, body(), 400),
    ]
    for key, data, status in cases:
        code, answer = shop.api.checkout(key, data)
        assert code == status and "error" in answer, (key, data, code, answer)


def test_key_first_replays_rejects_reuse_and_conflicts(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    first = shop.api.checkout("k1", body())
    assert first[0] == 200 and first[1]["status"] == "ordered" and first[1]["order_id"] == 1
    assert shop.api.checkout("k1", body()) == first
    assert shop.api.checkout("k1", body(quantity=2))[0] == 422
    running = stepwise(shop, "k2", body())
    run_until(running, ops.Charge)
    code, answer = shop.api.checkout("k2", body())
    assert code == 409 and "still running" in answer["error"]
    assert finish(running)[1]["status"] == "ordered"
    assert shop.stock() == {"sku-0": 8}


def test_the_server_assigns_intents_one_per_key(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    code, answer = shop.api.checkout("k", body())
    again = shop.api.checkout("k", body())[1]["intent"]
    other = shop.api.checkout("k-other", body())[1]["intent"]
    assert code == 200 and answer["intent"] >= 1_000_000_000
    assert again == answer["intent"] != other


@pytest.mark.parametrize(
    ("strategy", "captures"), [("no_key", 2), ("check_then_charge", 2), ("key_first", 1)]
)
def test_a_double_click_charges_twice_unless_the_key_goes_first(
    tmp_path: Path, strategy: str, captures: int
) -> None:
    shop, _ = service(tmp_path, settings(payment={"strategy": strategy}))
    first = stepwise(shop, "k", body())
    run_until(first, ops.Charge)
    second = finish(stepwise(shop, "k", body()))
    answer = finish(first)
    assert answer[1]["status"] == "ordered"
    assert second[0] in (200, 409)
    ledger = shop.ledger.frame()
    assert len(ledger) == captures
    # Both clicks carry one key, so the server files them under one intent.
    assert ledger["intent_id"].nunique() == 1
    # Whatever happened to the money, one intent is one order.
    assert shop.store.db.read().execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1


def test_a_sold_out_answer_is_replayed_even_after_stock_returns(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, settings(catalog={"stock_per_sku": 0}))
    first = shop.api.checkout("k", body())
    assert first[1]["status"] == "sold_out"
    with shop.store.db.write() as conn:
        conn.execute("UPDATE inventory SET available = 5")
    assert shop.api.checkout("k", body()) == first
