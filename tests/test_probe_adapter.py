"""The adapter file and the target's address: strict, bounded, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.probe.adapter import AdapterError, fill, fill_path, load_adapter
from checkoutsim.probe.target import TargetError, base_url, classify, resolve_pointer

GOOD = """
[checkout]
method = "POST"
path = "/orders"
json = { item = "{sku}", count = "{quantity}", note = "sku {sku}" }
headers = { "Idempotency-Key" = "{key}" }
ordered = [200, 201]
sold_out = [404, 409, 410]
[stock]
path = "/items/{sku}"
pointer = "/stock"
[reset]
path = "/reset"
[catalog]
skus = ["A1"]
stock = 100
[model]
strategy = "check_then_decrement"
workers = 40
race_window_s = 0.010
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "adapter.toml"
    path.write_text(text)
    return path


def test_the_issue_example_loads(tmp_path: Path) -> None:
    adapter = load_adapter(write(tmp_path, GOOD))
    assert adapter.checkout.json_body == {
        "item": "{sku}",
        "count": "{quantity}",
        "note": "sku {sku}",
    }
    assert adapter.model is not None and adapter.model.workers == 40
    assert adapter.stock.method == "GET" and adapter.reset is not None


@pytest.mark.parametrize("section", ["checkout", "stock", "catalog"])
def test_a_missing_section_is_one_line(tmp_path: Path, section: str) -> None:
    lines = GOOD.split("\n")
    start = lines.index(f"[{section}]")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("["))
    path = write(tmp_path, "\n".join(lines[:start] + lines[end:]))
    with pytest.raises(AdapterError) as error:
        load_adapter(path)
    message = str(error.value)
    assert message.startswith(f"{path}: [{section}] is missing")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("old", "new", "field", "shown"),
    [
        ("ordered = [200, 201]", 'ordered = ["200"]', "checkout.ordered.0", "'200'"),
        ("workers = 40", "workers = 0", "model.workers", "0"),
        ('strategy = "check_then_decrement"', 'strategy = "magic"', "model.strategy", "'magic'"),
        ('pointer = "/stock"', 'pointer = "stock"', "stock.pointer", "'stock'"),
        ('path = "/orders"', 'path = "/orders/{id}"', "checkout.path", "unknown placeholder"),
        ('method = "POST"', 'method = "FETCH"', "checkout.method", "'FETCH'"),
        ('skus = ["A1"]', "skus = []", "catalog.skus", "[]"),
        ("race_window_s = 0.010", "race_window_s = 1e9", "model.race_window_s", "1000000000.0"),
        ("sold_out = [404, 409, 410]", "sold_out = [201]", "checkout.sold_out", "both"),
        ("[reset]", "[reset]\ncolour = 1", "reset.colour", "Extra inputs"),
    ],
)
def test_a_bad_field_names_file_field_and_value(
    tmp_path: Path, old: str, new: str, field: str, shown: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(AdapterError) as error:
        load_adapter(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert shown in message
    assert "\n" not in message


def test_not_toml_and_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="invalid TOML"):
        load_adapter(write(tmp_path, "[checkout\n"))
    with pytest.raises(AdapterError, match="cannot read"):
        load_adapter(tmp_path / "absent.toml")


def test_a_lone_placeholder_keeps_its_type() -> None:
    values = {"sku": "A1", "quantity": 2, "key": "k-7"}
    assert fill({"count": "{quantity}", "text": "n={quantity}"}, values) == {
        "count": 2,
        "text": "n=2",
    }
    assert fill_path("/items/{sku}", {"sku": "a/b c"}) == "/items/a%2Fb%20c"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_integer_quantity_survives_filling(quantity: int) -> None:
    assert fill(["{quantity}", {"q": "{quantity}"}], {"quantity": quantity}) == [
        quantity,
        {"q": quantity},
    ]


def test_json_pointer_against_the_rfc_6901_examples() -> None:
    # RFC 6901 section 5, its document and its answers.
    document = {
        "foo": ["bar", "baz"],
        "": 0,
        "a/b": 1,
        "c%d": 2,
        "e^f": 3,
        "g|h": 4,
        "i\\j": 5,
        'k"l': 6,
        " ": 7,
        "m~n": 8,
    }
    expected = {
        "": document,
        "/foo": ["bar", "baz"],
        "/foo/0": "bar",
        "/": 0,
        "/a~1b": 1,
        "/c%d": 2,
        "/e^f": 3,
        "/g|h": 4,
        "/i\\j": 5,
        '/k"l': 6,
        "/ ": 7,
        "/m~0n": 8,
    }
    for pointer, value in expected.items():
        assert resolve_pointer(document, pointer) == value
    for missing in ("/bar", "/foo/2", "/foo/x", "/foo/0/deeper"):
        with pytest.raises(KeyError):
            resolve_pointer(document, missing)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:8000",
        "http://10.0.0.1:80",
        "http://0.0.0.0:5000",
        "ftp://127.0.0.1:21",
        "127.0.0.1:5000",
        "http://127.0.0.1:5000/orders",
        "http://127.0.0.1:99999",
    ],
)
def test_only_loopback_servers_are_probed(url: str) -> None:
    with pytest.raises(TargetError) as error:
        base_url(url)
    assert "\n" not in str(error.value)


def test_loopback_addresses_are_accepted() -> None:
    assert base_url("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    assert base_url("http://localhost:8080") == "http://localhost:8080"
    assert base_url("http://[::1]:8080") == "http://[::1]:8080"


def test_answers_classified_by_status_then_by_outcome(tmp_path: Path) -> None:
    adapter = load_adapter(write(tmp_path, GOOD))
    assert classify(adapter, 201, dict) == "ordered"
    assert classify(adapter, 410, dict) == "sold_out"
    assert classify(adapter, 500, dict) == "error"
    text = GOOD.replace(
        "ordered = [200, 201]",
        'ordered = [200]\noutcome = "/status"\nordered_outcomes = ["ordered"]\n'
        'sold_out_outcomes = ["sold_out"]',
    )
    by_body = load_adapter(write(tmp_path, text))
    assert classify(by_body, 200, lambda: {"status": "ordered"}) == "ordered"
    assert classify(by_body, 200, lambda: {"status": "sold_out"}) == "sold_out"
    assert classify(by_body, 200, lambda: {"status": "failed"}) == "error"
    assert classify(by_body, 200, lambda: "<html>") == "error"


def test_the_readme_adapter_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Probe your own checkout") :]
    example = section[section.index("```toml") + len("```toml") : section.index("```\n", 10)]
    adapter = load_adapter(write(tmp_path, example))
    assert adapter.model is not None and adapter.model.strategy == "check_then_decrement"
    assert adapter.checkout.headers == {"Idempotency-Key": "{key}"}


def test_the_shipped_serve_adapter_is_valid() -> None:
    adapter = load_adapter(Path("serve"))
    assert adapter.checkout.path == "/checkout" and adapter.catalog.skus == ["sku-0"]
