"""``checkoutsim loadtest``: hammer the real checkout with Locust, then audit it.

Locust is imported only inside the command (``checkoutsim.load``), because
importing it monkey-patches the whole process with gevent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from checkoutsim.cli.app import (
    JsonOption,
    ScenarioArgument,
    SeedOption,
    SetOption,
    VariantOption,
    emit_json,
    err,
)
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.load_options import (
    LocksOption,
    RateOption,
    RunTimeOption,
    StoreOption,
    UsersOption,
    _backend,
    _load,
    _options,
    run_real,
)
from checkoutsim.cli.real_output import real_json, render_real
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce
from checkoutsim.real.overload import withheld_reason
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.load.options import VariantRun

#: ``loadtest``'s exit code when a verdict was withheld because the host was overloaded.
OVERLOADED_EXIT = 3


@user_errors
def loadtest(
    scenario: ScenarioArgument,
    variants: VariantOption = None,
    users: UsersOption = None,
    rate: RateOption = None,
    run_time: RunTimeOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Locust worker processes sharing the store.")
    ] = 0,
    web: Annotated[bool, typer.Option("--web", help="Serve Locust's web UI on 127.0.0.1.")] = False,
    web_port: Annotated[int, typer.Option("--web-port", min=1, max=65535)] = 8089,
    as_json: JsonOption = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write Locust's HTML report (one per variant).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Drive `checkoutsim serve` at this URL instead."),
    ] = None,
    seed: SeedOption = 1,
    overrides: SetOption = None,
    report: ReportFlag = False,
    out_directory: OutOption = None,
    store: StoreOption = None,
    locks: LocksOption = None,
    master: Annotated[
        bool, typer.Option("--master", help="Be a Locust master for `loadtest-worker`s.")
    ] = False,
    expect_workers: Annotated[
        int, typer.Option("--expect-workers", min=1, help="Workers the master waits for.")
    ] = 1,
    master_bind_host: Annotated[
        str,
        typer.Option(
            "--master-bind-host",
            help="Address the master listens on (127.0.0.1; give 0.0.0.0 for other machines).",
        ),
    ] = "127.0.0.1",
    master_port: Annotated[int, typer.Option("--master-port", min=1, max=65535)] = 5557,
) -> None:
    """Hammer the real checkout (SQLite + fake gateway) with Locust, then audit it.

    Exit code 3: the host could not keep up (arrivals started late or the
    service's steps overran their budgets, past 10% of the shopper time-out),
    so at least one variant's verdict is withheld ("safe": null); 2: bad input.
    """
    _backend(store, locks)
    loaded = _load(scenario, overrides, variants)
    if target is not None and not re.match(r"^https?://[^/\s]+/?$", target):
        raise UserError(f"--target {target!r}: expected http://HOST:PORT")
    if target is not None and workers:
        raise UserError("--target and --workers cannot be combined")
    if target is not None and not variants:
        loaded = _served_variant(loaded, target)
    options = _options(
        run_time,
        rate,
        users,
        seed,
        workers=workers,
        target=target,
        web=web,
        web_port=web_port,
        html=html is not None,
        store=store,
        locks=locks,
        master=master,
        expect_workers=expect_workers if master else 0,
        master_bind_host=master_bind_host,
        master_port=master_port,
    )
    if web:
        err.print(f"Locust web UI: http://127.0.0.1:{web_port}", highlight=False)
    runs = run_real(loaded, options, show=not as_json)
    if master:
        from checkoutsim.load.remote import dismiss_workers

        dismiss_workers(options)
    if html is not None:
        _write_html(html, runs)
    if report:
        histories = {run.name: [run.history] for run in runs}
        write_and_announce(real_json(loaded, options, runs), histories, out_directory, loaded)
    if as_json:
        emit_json(real_json(loaded, options, runs))
    else:
        render_real(loaded, runs, options)
    if any(withheld_reason(run.load.get("health")) for run in runs):
        raise typer.Exit(OVERLOADED_EXIT)


def _served_variant(loaded: scenarios.Scenario, target: str) -> scenarios.Scenario:
    """Keep only the variant the server at ``target`` serves."""
    from checkoutsim.load.loadtest import get_json

    try:
        health = get_json(f"{target.rstrip('/')}/health", timeout_s=5)
    except OSError as error:
        raise UserError(f"--target {target}: not reachable ({error})") from None
    return loaded.select([str(health.get("variant"))])


def _write_html(path: Path, runs: list[VariantRun]) -> None:
    """One HTML report per variant: ``path`` itself when there is one variant."""
    for run in runs:
        if run.html is None:
            continue
        target = path if len(runs) == 1 else path.with_name(f"{path.stem}-{run.name}{path.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(run.html, encoding="utf-8")
        err.print(f"HTML report written to {target}", highlight=False)
