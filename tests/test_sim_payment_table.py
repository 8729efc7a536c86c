"""The model's compact payment table and gateway keys give back what was stored."""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.policy.ops import ChargeResult, ChargeStatus, KeyState, PaymentRecord
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.gateway import Books
from checkoutsim.sim.state import Ledger, Shop
from checkoutsim.world.faults import RateLimiter

_records = st.builds(
    PaymentRecord,
    st.sampled_from(["i0", "i1", "i1r1", "i2"]),
    st.sampled_from(list(KeyState)),
    st.one_of(st.none(), st.integers(0, 10**6)),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _records), max_size=30))
def test_payment_rows_read_back_as_stored(writes: list[tuple[bool, PaymentRecord]]) -> None:
    shop = Shop([1])
    reference: dict[str, PaymentRecord] = {}
    for insert, record in writes:
        if insert:
            existing = reference.get(record.key)
            clash = (
                existing if existing is not None and existing.state is not KeyState.RETRY else None
            )
            if clash is None:
                reference[record.key] = record
            assert shop.insert_payment(record) == clash
        else:
            shop.update_payment(record)
            reference[record.key] = record
        for key in ("i0", "i1", "i1r1", "i2", "i9"):
            assert shop.payment(key) == reference.get(key)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["k0", "k1", "k2"]), st.booleans()), max_size=20))
def test_gateway_keys_read_back_as_settled(calls: list[tuple[str, bool]]) -> None:
    books = Books(simpy.Environment(), Ledger(), RateLimiter(Settings().faults))
    reference: dict[str, ChargeResult] = {}
    for key, declined in calls:
        if not books.claim(key, claim=True):
            assert books.stored(key) is None  # claimed, in flight
            reference[key] = books.settle(7, 100, key, declined)
        assert books.stored(key) == reference[key]
        if not declined and reference[key].status is ChargeStatus.CAPTURED:
            assert reference[key].capture_id is not None
