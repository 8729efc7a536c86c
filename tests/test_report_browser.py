"""The report as a person sees it: opened in headless Chromium, offline.

The browser is driven over the Chrome DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors
3 and 4), which needs no Python package beyond the standard library. The test
checks that the page loads with no console error and no network request,
that every image loaded with a non-zero size, and that the verdict table is
there with every variant. Without Chromium (or Chrome) it is skipped, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Seconds any one browser answer may take; generous for a cold start on a slow CI box.
ANSWER_TIMEOUT_S = 30.0


def find_browser() -> str | None:
    """A Chromium-family browser on this machine, or None."""
    for name in BROWSERS:
        for candidate in (shutil.which(name), f"/usr/bin/{name}"):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
    return None


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire() -> None:
            # In the child: the protocol's fixed descriptors, 3 (commands in) and 4 (answers out).
            # Duplicated first, so neither end is lost if it already sits on 3 or 4.
            commands, answers = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        flags = [
            "--headless",
            "--no-sandbox",  # CI containers run as root, where the sandbox refuses to start
            "--disable-gpu",
            "--remote-debugging-pipe",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            [executable, *flags],
            preexec_fn=wire,  # only dup2 calls, which are safe between fork and exec
            close_fds=False,  # the pipes we keep are non-inheritable; 3 and 4 must survive exec
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _read(self, wanted: Any) -> dict[str, Any]:
        """Messages until one matches ``wanted``; events are kept in ``self.events``."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise EOFError("the browser closed the pipe")
                self._buffer += chunk

    def call(self, method: str, params: dict[str, Any] | None = None, page: bool = True) -> Any:
        """Send a command (to the page's session unless ``page`` is False); return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        answer = self._read(lambda reply, wanted=self._next_id: reply.get("id") == wanted)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def open(self, url: str) -> None:
        """Open a tab on ``url`` with console, log and network events on; wait for load."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")
        self.navigate(url)

    def navigate(self, url: str) -> None:
        """Load ``url`` in the open tab and wait for its load event."""
        self.call("Page.navigate", {"url": url})
        self._read(lambda message: message.get("method") == "Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        """Close the browser and wait for it to exit."""
        # A browser that already died cannot be asked to close; waiting below still reaps it.
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.call("Browser.close", page=False)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A running headless browser, or a skip that says why there is none."""
    executable = find_browser()
    if executable is None:
        pytest.skip(
            "no Chromium or Chrome found (looked for " + ", ".join(BROWSERS) + "): the "
            "browser test of the HTML report is skipped; install one, e.g. apt-get install "
            "chromium"
        )
    started = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        version = started.call("Browser.getVersion", page=False)
    except (OSError, EOFError, TimeoutError) as error:
        started.close()
        pytest.skip(f"{executable} was found but would not start headless ({error!r})")
    assert "Chrome" in version.get("product", ""), version
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def gateway_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of a live run with every kind of run figure (breaker and queue included)."""
    from checkoutsim.experiments.runner import run_scenario
    from checkoutsim.report.build import histories_of, write_report
    from checkoutsim.scenario import files as scenario

    loaded = scenario.load("gateway-outage", ["load.duration_s=120", "load.drain_s=120"])
    result = run_scenario(loaded, seed=1, keep_histories=True)
    out = tmp_path_factory.mktemp("report") / "gateway-outage"
    return write_report(result.to_json(), histories_of(result), out, scenario=loaded)


def console_errors(events: list[dict[str, Any]]) -> list[str]:
    """Errors the page logged: console.error, uncaught exceptions, failed loads, CSP blocks."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args"))[:300])
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails"))[:300])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
    return errors


def test_report_opens_in_a_browser_with_every_image_and_the_verdicts(
    browser: Browser, gateway_report: Path
) -> None:
    browser.open(gateway_report.resolve().as_uri())
    assert console_errors(browser.events) == []
    requested = [
        event["params"]["request"]["url"]
        for event in browser.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert requested, "the browser reported no requests at all"
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    images = browser.evaluate(
        "Array.from(document.images).map(image => ({src: image.src, complete: image.complete,"
        " natural: [image.naturalWidth, image.naturalHeight],"
        " shown: [image.getBoundingClientRect().width, image.getBoundingClientRect().height]}))"
    )
    assert len(images) >= 6  # latency, outcomes, breaker, queue, stock, invariants
    for image in images:
        assert image["complete"], image
        assert min(image["natural"]) > 0, image
        assert min(image["shown"]) > 0, image
    table = browser.evaluate(
        "(() => { const table = document.querySelector('table#verdicts');"
        " if (!table) return null;"
        " return Array.from(table.tBodies[0].rows).map(row => row.innerText); })()"
    )
    assert table is not None, "no verdict table on the page"
    for variant in ("no_breaker", "breaker", "breaker_queue"):
        assert any(row.startswith(variant) for row in table), (variant, table)
    assert all(("safe" in row) for row in table)
    # Every row has a cell under every header, as the browser lays the table out.
    counts = browser.evaluate(
        "(() => { const table = document.querySelector('table#verdicts');"
        " return {header: table.tHead.rows[0].cells.length,"
        " rows: Array.from(table.tBodies[0].rows).map(row => row.cells.length)}; })()"
    )
    assert counts["rows"] and all(count == counts["header"] for count in counts["rows"]), counts
    # Each figure the page names (its src) loaded from beside the page.
    named = browser.evaluate(
        "Array.from(document.querySelectorAll('img')).map(image => image.getAttribute('src'))"
    )
    assert named and all((gateway_report.parent / name).is_file() for name in named), named
    assert browser.evaluate("document.scripts.length") == 0


def test_scenario_markup_is_shown_as_text_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    from checkoutsim.experiments.runner import run_scenario
    from checkoutsim.report.build import histories_of, write_report
    from checkoutsim.scenario import files as scenario

    path = tmp_path / "xss.toml"
    path.write_text(
        'name = "xss"\ntitle = "<script>alert(1)</script> sale"\nquestion = "<b>bold?</b>"\n'
        "[load]\nrate_per_s = 5.0\nduration_s = 5.0\ndrain_s = 5.0\n"
        '[[variants]]\nname = "atomic"\ndescription = "<img src=x onerror=alert(2)>"\n'
    )
    loaded = scenario.load(str(path))
    result = run_scenario(loaded, keep_histories=True)
    index = write_report(result.to_json(), histories_of(result), tmp_path / "out", loaded)
    browser.events.clear()
    if browser.session:
        browser.navigate(index.resolve().as_uri())
    else:
        browser.open(index.resolve().as_uri())
    assert browser.evaluate("document.querySelector('h1').innerText") == (
        "<script>alert(1)</script> sale"
    )
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('b, img[src=x]').length") == 0
    dialogs = [e for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]
    assert dialogs == []
    assert console_errors(browser.events) == []
