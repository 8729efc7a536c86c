"""The backend suites skip a missing server only when nobody asked for it."""

from __future__ import annotations

import pytest

from tests import backend_support


@pytest.mark.parametrize(
    ("kind", "variable"),
    [("postgresql", "CHECKOUTSIM_TEST_POSTGRES"), ("redis", "CHECKOUTSIM_TEST_REDIS")],
)
def test_an_unreachable_server_skips_unless_its_variable_asks_for_it(
    monkeypatch: pytest.MonkeyPatch, kind: str, variable: str
) -> None:
    down = f"{kind} not reachable at test://nowhere: refused"
    monkeypatch.setattr(backend_support, "postgres_problem", lambda: down)
    monkeypatch.setattr(backend_support, "redis_problem", lambda: down)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        backend_support.require(kind, {})
    with pytest.raises(pytest.fail.Exception, match=f"{variable} is set but"):
        backend_support.require(kind, {variable: "test://nowhere"})


def test_a_reachable_server_neither_skips_nor_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_support, "postgres_problem", lambda: None)
    backend_support.require("postgresql", {"CHECKOUTSIM_TEST_POSTGRES": "test://here"})


def test_ci_points_both_suites_at_their_servers() -> None:
    from pathlib import Path

    script = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "export CHECKOUTSIM_TEST_POSTGRES=postgresql://127.0.0.1/test" in script
    assert "export CHECKOUTSIM_TEST_REDIS=redis://127.0.0.1:6379/0" in script
