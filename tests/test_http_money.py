"""Money through the HTTP surface: one order is charged at most once, whatever the client sends.

The client names only ``sku`` and ``quantity`` (and an ``Idempotency-Key``);
the server owns intents and orders. Every capture that no order records and
that was not refunded is an orphan in the audit, and ``recover`` refunds it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from checkoutsim.real.gateway import Ledger
from checkoutsim.real.http import CheckoutApp
from checkoutsim.real.recovery import orphan_captures
from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario import files as scenarios
from tests.real_support import service
from tests.real_support import settings as real_settings
from tests.test_fuzz_http import call

GOOD = {"sku": "sku-0", "quantity": 1}


def app_for(directory: Path, **sections: dict[str, Any]) -> CheckoutApp:
    """The WSGI app over a fresh service (instant gateway, one SKU of 10 units)."""
    shop, _ = service(directory, real_settings(**sections))
    return CheckoutApp(shop, "test", "default", lambda function, *args: function(*args))


def post(app: CheckoutApp, data: Any, key: str, query: str = "") -> tuple[int, dict[str, Any]]:
    """``POST /checkout`` with ``data`` as its JSON body."""
    if not query:
        return call(app, json.dumps(data).encode(), key=key)
    return _call_with_query(app, json.dumps(data).encode(), key, query)


def _call_with_query(app: CheckoutApp, raw: bytes, key: str, query: str) -> tuple[int, dict]:
    """A request whose URL carries a query string (which the checkout must ignore)."""
    import io

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/checkout",
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "HTTP_IDEMPOTENCY_KEY": key,
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])

    payload = json.loads(b"".join(app(environ, start_response)))
    return answer["status"], payload


def money(app: CheckoutApp) -> dict[str, int]:
    """Captures, refunds and orders in the store right now."""
    ledger = app.service.ledger.frame()
    orders = app.service.shop_db.read().execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    return {
        "captures": len(ledger),
        "refunds": int(ledger["refunded_s"].notna().sum()),
        "orders": orders,
    }


def audit_counts(app: CheckoutApp) -> dict[str, int]:
    """``GET /audit``'s counts of each money invariant."""
    status, payload = call(app, b"", key=None, method="GET", path="/audit")
    assert status == 200
    return {check["invariant"]: check["count"] for check in payload["audit"]}


def test_three_keys_naming_one_intent_are_refused_and_charge_nothing(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    for key in ("A", "B", "C"):
        status, payload = post(app, {**GOOD, "intent": 7}, key)
        assert status == 400 and payload == {"error": 'unknown field "intent"'}
    assert money(app) == {"captures": 0, "refunds": 0, "orders": 0}
    assert app.service.stock() == {"sku-0": 10}


@pytest.mark.parametrize(
    "extra",
    [
        {"intent": "7"},
        {"intent": 7.0},
        {"intent": None},
        {"intent": [7]},
        {"intent": {"id": 7}},
        {"intent_id": 7},
        {"Intent": 7},
        {"order_id": 1},
        {"order": {"id": 1}},
        {"customer": "c-1"},
        {"customer_id": 1},
        {"capture_id": 1},
        {"capture": {"id": 1, "amount": 100}},
        {"amount": 1},
        {"price": 0},
        {"key": "A"},
        {"metadata": {"intent": 7}},
        {"colour": "red", "size": "L"},
    ],
)
def test_any_field_but_sku_and_quantity_is_a_400_naming_it(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    app = app_for(tmp_path)
    status, payload = post(app, {**GOOD, **extra}, "k")
    named = sorted(extra)[0]
    assert status == 400 and payload == {"error": f"unknown field {json.dumps(named)}"}
    # A nested object is refused at its outer name; smuggled inside sku it is a bad sku.
    status, _ = post(app, {"sku": {"sku": "sku-0", **extra}, "quantity": 1}, "k2")
    assert status == 400
    assert money(app)["captures"] == 0


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=2) | st.dictionaries(st.text(max_size=6), children)
    ),
    max_leaves=6,
)


@FUZZ
@given(
    fields=st.dictionaries(
        st.text(max_size=20).filter(lambda name: name not in ("sku", "quantity")),
        JSON_VALUES,
        min_size=1,
        max_size=3,
    )
)
def test_no_extra_field_of_any_name_or_value_reaches_the_saga(
    tmp_path_factory: pytest.TempPathFactory, fields: dict[str, Any]
) -> None:
    app = app_for(tmp_path_factory.mktemp("fuzz"))
    status, payload = post(app, {**GOOD, **fields}, "k")
    assert status == 400
    assert payload["error"] == f"unknown field {json.dumps(sorted(fields)[0])}"
    assert money(app)["captures"] == 0
    app.service.close()


def test_the_same_key_twice_charges_once(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    first = post(app, GOOD, "same")
    assert first[0] == 200 and first[1]["status"] == "ordered"
    assert post(app, GOOD, "same") == first
    assert money(app) == {"captures": 1, "refunds": 0, "orders": 1}


@pytest.mark.parametrize("query", ["", "intent=7", "intent=7&order_id=1"])
def test_many_keys_for_one_shopper_each_charge_once_for_their_own_order(
    tmp_path: Path, query: str
) -> None:
    """Keys that look alike (a load generator's ``i7``, ``i7r1``...) are still distinct checkouts.

    Nothing the client sends outside the body (the query string, the shape of its
    keys) ties two keys to one order: each key is one checkout, paid once.
    """
    app = app_for(tmp_path, catalog={"skus": 1, "stock_per_sku": 100})
    keys = ["i7", "i7r1", "i7r2", "A", "B", "C", *(f"shopper-7-{n}" for n in range(20))]
    answers = [post(app, GOOD, key, query) for key in keys]
    assert all(status == 200 and answer["status"] == "ordered" for status, answer in answers)
    assert len({answer["order_id"] for _, answer in answers}) == len(keys)
    assert money(app) == {"captures": len(keys), "refunds": 0, "orders": len(keys)}
    counts = audit_counts(app)
    assert counts["one_capture_per_intent"] == 0
    assert counts["capture_has_order_or_refund"] == 0
    assert counts["order_is_paid"] == 0


def test_a_charge_a_client_can_still_repeat_is_an_orphan_that_recover_refunds(
    tmp_path: Path,
) -> None:
    """Without keys (the ``no_key`` variant), a repeated request is charged again.

    The second capture pays for no order; the audit names it, whatever intent
    it carries, and recovery refunds it.
    """
    app = app_for(tmp_path, payment={"strategy": "no_key"})
    assert post(app, GOOD, "same")[1]["status"] == "ordered"
    assert post(app, GOOD, "same")[1]["status"] == "ordered"
    assert money(app) == {"captures": 2, "refunds": 0, "orders": 1}
    counts = audit_counts(app)
    assert counts["one_capture_per_intent"] == 1
    assert counts["capture_has_order_or_refund"] == 1
    report = app.service.recover()
    assert report["orphans_refunded"] == 1
    assert money(app) == {"captures": 2, "refunds": 1, "orders": 1}
    counts = audit_counts(app)
    assert counts["capture_has_order_or_refund"] == 0 and counts["order_is_paid"] == 0


def _attacked_store(db: Path, extra: int) -> int:
    """A store with one order and ``extra`` captures for its intent, as an old attack left."""
    variant = scenarios.load("flash-sale", [], ["atomic"]).variants[0]
    # The dead service started an hour ago: recovery's clock runs on from there.
    meta = {"scenario": "flash-sale", "variant": "atomic", "origin_epoch": repr(time.time() - 3600)}
    shop = CheckoutService(
        variant.settings, StorePaths.beside(db), ThreadRuntime(ManualTime()), meta=meta
    )
    status, answer = shop.api.checkout("A", {"sku": "sku-0", "quantity": 1})
    assert status == 200 and answer["status"] == "ordered"
    with shop.gateway_db.write() as conn:
        # Each extra capture copies the paying one: same intent, amount and moment.
        for _ in range(extra):
            conn.execute(
                "INSERT INTO captures (intent_id, amount, idempotency_key, time_s)"
                " SELECT intent_id, amount, NULL, time_s FROM captures WHERE id = 1"
            )
    assert len(orphan_captures(shop)) == extra
    shop.close()
    return answer["intent"]


def test_recover_heals_a_store_an_old_attack_left_with_extra_captures(tmp_path: Path) -> None:
    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app

    db = tmp_path / "shop.sqlite"
    _attacked_store(db, extra=49)
    register_chaos(app)
    before = CliRunner().invoke(app, ["recover", "--db", str(db)])
    assert before.exit_code == 0, before.output
    assert "refunded 49 capture(s) that paid for no order; 0 left" in before.output
    again = CliRunner().invoke(app, ["recover", "--db", str(db), "--json"])
    assert again.exit_code == 0, again.output
    document = json.loads(again.output)
    assert document["refunded_captures"] == 0 and document["orphan_captures_left"] == 0
    assert document["metrics"]["captures"] == 50 and document["metrics"]["refunds"] == 49
    verdicts = {check["invariant"]: check for check in document["audit"]}
    # The 49 charges happened and stay on the books as duplicates; none is owed any more.
    assert verdicts.pop("one_capture_per_intent")["count"] == 49
    assert all(check["status"] == "valid" for check in verdicts.values()), verdicts


def test_recover_exits_1_when_orphan_money_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app

    db = tmp_path / "shop.sqlite"
    _attacked_store(db, extra=3)
    # A gateway that refuses every refund: the money stays where it is.
    monkeypatch.setattr(Ledger, "refund", lambda self, capture_id: False)
    register_chaos(app)
    result = CliRunner().invoke(app, ["recover", "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert "refunded 0 capture(s) that paid for no order; 3 left" in result.output


ATTACK = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C", "i7", "i7r1", "i7r2"]),
        st.sampled_from([{}, {"intent": 7}, {"intent": "7"}, {"order_id": 1}, {"quantity": 1}]),
    ),
    min_size=1,
    max_size=12,
)


@FUZZ
@given(attack=ATTACK)
def test_after_any_mix_of_keys_and_smuggled_fields_each_order_is_charged_once(
    tmp_path_factory: pytest.TempPathFactory, attack: list[tuple[str, dict[str, Any]]]
) -> None:
    app = app_for(tmp_path_factory.mktemp("attack"), catalog={"skus": 1, "stock_per_sku": 100})
    for key, extra in attack:
        status, _ = post(app, {**GOOD, **extra}, key)
        assert status == (200 if set(extra) <= {"quantity"} else 400)
    ordered_keys = {key for key, extra in attack if set(extra) <= {"quantity"}}
    figures = money(app)
    assert figures == {"captures": len(ordered_keys), "refunds": 0, "orders": len(ordered_keys)}
    counts = audit_counts(app)
    assert counts["one_capture_per_intent"] == 0
    assert counts["capture_has_order_or_refund"] == 0 and counts["order_is_paid"] == 0
    app.service.close()


def test_intents_come_in_blocks_no_restart_or_second_process_reuses(tmp_path: Path) -> None:
    first, _ = service(tmp_path)
    other, _ = service(tmp_path)  # a second process on the same files
    mine = [first.requests.intent_for(f"a{n}") for n in range(1_500)]
    theirs = [other.requests.intent_for(f"b{n}") for n in range(10)]
    first.close()
    other.close()
    again, _ = service(tmp_path)  # a restart
    after = [again.requests.intent_for(f"c{n}") for n in range(10)]
    assert len(set(mine) | set(theirs) | set(after)) == 1_520
    assert min(after) > max(mine) and min(after) > max(theirs)
    # Three blocks, then one more each: one store write per thousand intents.
    blocks = again.shop_db.read().execute("SELECT COUNT(*) FROM intent_ids").fetchone()[0]
    assert blocks == 4
    assert again.requests.intent_for("c0") == after[0]
    again.close()


def test_a_load_generators_keys_file_the_servers_intents_under_its_shoppers() -> None:
    import pandas as pd

    from checkoutsim.real import records

    keys = pd.DataFrame(
        [(1_000_001_000, "i3"), (1_000_001_001, "i3r1"), (1_000_001_002, "A")],
        columns=list(records.KEY_COLUMNS),
    )
    orders = pd.DataFrame(
        [(1_000_001_000, 0, 1, 1.0, 1), (1_000_001_001, 0, 1, 2.0, 2)],
        columns=list(records.REAL_ORDER_COLUMNS),
    )
    ledger = pd.DataFrame(
        [(1, 1_000_001_000, 100, 1.0, None), (2, 1_000_001_001, 100, 2.0, None)],
        columns=["capture_id", "intent_id", "amount", "time_s", "refunded_s"],
    )
    empty = pd.DataFrame()
    facts = records.ServerFacts(orders, ledger, empty, empty, (10,), {}, keys)
    mapped = records.by_shopper(facts)
    # Shopper 3's retry under a new key was charged and ordered again: a duplicate charge.
    assert mapped.orders["intent_id"].tolist() == [3, 3]
    assert mapped.ledger["intent_id"].tolist() == [3, 3]
    assert (
        records.ServerFacts.from_json(facts.to_json()).keys.values.tolist() == keys.values.tolist()
    )
