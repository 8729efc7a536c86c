"""``record`` makes the same frozen dataclass as ``dataclass(frozen=True, slots=True)``."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.records import record
from checkoutsim.policy.saga import CheckoutRequest


@record
class Quick:
    number: int
    text: str
    share: float = 0.5
    flag: bool | None = None


@dataclass(frozen=True, slots=True)
class Plain:
    number: int
    text: str
    share: float = 0.5
    flag: bool | None = None


_values = st.tuples(st.integers(), st.text(max_size=5), st.floats(allow_nan=False), st.booleans())


@given(_values, st.integers(2, 4))
def test_record_behaves_as_the_frozen_dataclass(values: tuple, given_count: int) -> None:
    quick = Quick(*values[:given_count])
    plain = Plain(*values[:given_count])
    assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
    assert hash(quick) == hash(Quick(*values[:given_count]))
    assert quick == Quick(*values[:given_count]) and quick != Quick(values[0] + 1, values[1])
    assert repr(quick).removeprefix("Quick") == repr(plain).removeprefix("Plain")
    assert pickle.loads(pickle.dumps(quick)) == quick
    assert Quick(number=values[0], text=values[1]) == Quick(values[0], values[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.number = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Quick(1)  # type: ignore[call-arg]


@record
class Checked:
    share: float

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise ValueError(f"share {self.share} out of [0, 1]")


def test_the_hot_records_use_the_quick_init_and_post_init_still_runs() -> None:
    for cls in (ops.Checkpoint, ops.CreateOrder, ops.ReservationRequest, CheckoutRequest, Checked):
        assert "_set_0" in cls.__init__.__code__.co_names
    assert ops.Checkpoint(3) == ops.Checkpoint(3, begin=False)
    assert CheckoutRequest(1, 2, 3, 4, "k").key == "k"
    assert Checked(0.5).share == 0.5
    with pytest.raises(ValueError, match="out of"):
        Checked(2.0)
