"""Reliability commands: ``recover``, ``chaos`` and ``soak``.

``register_chaos(app)`` adds them to the main typer app. ``recover --db PATH``
finishes or compensates every saga a dead ``serve`` left in flight (the
service also does this itself when it reopens a store). ``chaos [SCENARIO]
--kills N`` kills ``serve`` under load N times per variant (the ``chaos``
scenario by default), with ``--recovery-kills M`` also M times while it
recovers, then recovers, prints where the kills landed and the audit.
``soak`` load-tests a scenario (``soak`` by default) with its faults and
prints load held, faults injected and survived, and what was lost. Until the
commands are registered in ``checkoutsim.cli.main``, run them as
``python -m checkoutsim.cli.chaos chaos flash-sale --kills 20``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from checkoutsim.cli.app import JsonOption, SeedOption, SetOption, VariantOption, emit_json, out
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.load_options import _options, run_real
from checkoutsim.cli.real_output import example_phrases, render_real
from checkoutsim.scenario import files as scenarios


def register_chaos(app: typer.Typer) -> None:
    """Add ``recover``, ``chaos`` and ``soak`` to ``app`` (once, however often called)."""
    known = {command.name for command in app.registered_commands}
    for name, function in (("recover", recover), ("chaos", chaos), ("soak", soak)):
        if name not in known:
            app.command(name)(function)


def _variant(loaded: scenarios.Scenario, name: str | None) -> scenarios.Variant:
    """The named variant, or the first one."""
    if name is None:
        return loaded.variants[0]
    return loaded.select([name]).variants[0]


@user_errors
def recover(
    db: Annotated[Path, typer.Option("--db", help="Shop database file `serve --db` wrote.")],
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", help="Scenario name or path (default: the one the store ran)."),
    ] = None,
    variant: Annotated[
        str | None, typer.Option("--variant", "-v", help="Variant (default: the store's).")
    ] = None,
    as_json: JsonOption = False,
    overrides: SetOption = None,
) -> None:
    """Complete or compensate every saga a stopped service left in flight, then audit.

    Captures that paid for no order are refunded. Run it only while no service
    uses the store: a saga in progress holds a capture whose order is not yet
    written. Exits 1 if money that paid for no order is left, else 0.
    """
    from checkoutsim.real.chaos import audit_store, open_service
    from checkoutsim.real.recovery import orphan_captures
    from checkoutsim.real.service import StorePaths

    if not db.is_file():
        raise UserError(f"--db {db}: no such file")
    paths = StorePaths.beside(db)
    if not paths.gateway.is_file():
        raise UserError(f"--db {db}: the gateway's ledger {paths.gateway} is missing")
    meta = _read_meta(db)
    scenario = scenario or meta.get("scenario")
    if not scenario:
        raise UserError(f"--db {db}: the store names no scenario; pass --scenario")
    loaded = scenarios.load(scenario, overrides or [])
    chosen = _variant(loaded, variant or meta.get("variant"))
    service = open_service(loaded.name, chosen, db)
    try:
        done = service.recover()
        left = len(orphan_captures(service))
        checks, metrics = audit_store(service)
    finally:
        service.close()
    # Refunds of sagas whose reservation lapsed, and of captures no order records.
    refunded = done["refunded"] + done["orphans_refunded"]
    if as_json:
        emit_json(
            {
                "db": str(db),
                "recovery": done,
                "refunded_captures": refunded,
                "orphan_captures_left": left,
                "audit": checks,
                "metrics": metrics,
            }
        )
    else:
        recovered = ", ".join(f"{k} {v}" for k, v in done.items())
        out.print(f"recovered {escape(str(db))}: {recovered}")
        out.print(f"refunded {refunded} capture(s) that paid for no order; {left} left")
        out.print(_audit_table(f"{loaded.name} / {chosen.name}", checks, metrics))
    if left:
        raise typer.Exit(1)


def _read_meta(db: Path) -> dict[str, str]:
    """The store's ``meta`` table, read-only (nothing is created if it is not a store)."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return dict(connection.execute("SELECT key, value FROM meta").fetchall())
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise UserError(f"--db {db}: not a checkoutsim store ({error})") from None


def _audit_table(title: str, checks: list[dict], metrics: dict[str, int]) -> Table:
    """One row per invariant, plus the headline counts in the caption."""
    table = Table(title=escape(title))
    for column in ("invariant", "status", "count", "first example"):
        table.add_column(column, no_wrap=column != "first example")
    for check in checks:
        # One figure a line ("intent_id 12"), so a narrow column never splits one.
        example = (
            "\n".join(escape(phrase.rstrip(",")) for phrase in example_phrases(check["example"]))
            if check["example"] is not None
            else ""
        )
        table.add_row(check["invariant"], check["status"], str(check["count"]), example)
    table.caption = ", ".join(f"{name} {value}" for name, value in metrics.items())
    return table


@user_errors
def chaos(
    scenario: Annotated[
        str, typer.Argument(help="Scenario name or path (default: chaos, built for it).")
    ] = "chaos",
    kills: Annotated[
        int, typer.Option("--kills", min=1, max=1000, help="SIGKILLs per variant.")
    ] = 20,
    recovery_kills: Annotated[
        int,
        typer.Option(
            "--recovery-kills",
            min=0,
            max=1000,
            help="Also SIGKILLs per variant while a restart recovers (then restart again).",
        ),
    ] = 0,
    variants: VariantOption = None,
    all_variants: Annotated[
        bool, typer.Option("--all", help="Also shake variants that are not crash-safe.")
    ] = False,
    clients: Annotated[int, typer.Option("--clients", min=1, max=256)] = 16,
    as_json: JsonOption = False,
    seed: SeedOption = 1,
    overrides: SetOption = None,
) -> None:
    """Kill `serve` under load at seeded random moments, recover, and audit each variant."""
    from checkoutsim.real.chaos import ChaosError, ChaosOptions, is_safe, run_chaos

    loaded = scenarios.load(scenario, overrides or [], variants or [])
    chosen = [v for v in loaded.variants if variants or all_variants or is_safe(v)]
    if not chosen:
        raise UserError(f"{loaded.name}: no crash-safe variant; pick one with --variant or --all")
    options = ChaosOptions(
        kills=kills,
        seed=seed,
        clients=clients,
        overrides=tuple(overrides or []),
        recovery_kills=recovery_kills,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="checkoutsim-chaos-") as directory:
        for variant in chosen:
            if not as_json:
                out.print(f"{variant.name}: {kills} kills...", highlight=False)
            try:
                results.append(run_chaos(scenario, loaded.name, variant, Path(directory), options))
            except ChaosError as error:
                raise UserError(f"{variant.name}: {error}") from None
    if as_json:
        emit_json(
            {
                "scenario": loaded.name,
                "seed": seed,
                "kills": kills,
                "variants": [
                    {
                        "name": r.variant,
                        "safe": r.safe,
                        "clean": r.clean,
                        "answers": r.answers,
                        "recovered_at_start": r.recovered_at_start,
                        "final_recovery": r.final_recovery,
                        "audit": r.checks,
                        "metrics": r.metrics,
                        "landings": r.landings,
                        "recovery_kills": r.recovery_kills,
                        "wall_s": r.wall_s,
                    }
                    for r in results
                ],
            }
        )
    else:
        for result in results:
            verdict = "clean" if result.clean else "VIOLATED"
            title = f"{loaded.name} / {result.variant}: {result.kills} kills, audit {verdict}"
            out.print(_audit_table(title, result.checks, result.metrics))
            out.print(f"  answers: {result.answers}", highlight=False)
            out.print(f"  recovered at restarts: {result.recovered_at_start}", highlight=False)
            out.print(f"  final recovery: {result.final_recovery}", highlight=False)
            for line in landing_lines(result.landings, result.recovery_kills):
                out.print(f"  {line}", highlight=False)
            out.print(f"  wall time: {result.wall_s:.0f} s", highlight=False)
    if any(result.safe and not result.clean for result in results):
        raise typer.Exit(1)


def landing_lines(landings: dict, recovery_kills: dict[str, int]) -> list[str]:
    """Where the kills landed, and the kills during recovery, as lines to print."""
    lines = []
    by_label, any_saga, sagas = (
        landings["by_label"],
        landings["kills_with_any"],
        landings["sagas"],
    )
    kills = landings["kills"]
    share = landings["mid_payment_or_compensation"] / kills if kills else 0.0
    # Each kill is placed once, by the most telling saga it left open
    # (``real.landings.PLACES``): a kill that left sagas mid-payment and one
    # mid-compensation counts as mid-compensation here, and at both places below.
    lines.append(
        "kills, each placed once, at the first of these places where it left a saga open:"
        f" mid-compensation {by_label['compensation']}, mid-payment {by_label['payment']},"
        f" mid-retry-queue {by_label['retry_queue']}, reserving {by_label['reserving']};"
        f" none open (idle) {by_label['idle']}"
        f" ({share:.0%} mid-payment or mid-compensation)"
    )
    lines.append(
        "kills that left at least one saga open at each place (a kill may count at several):"
        f" mid-payment {any_saga['payment']}, mid-compensation {any_saga['compensation']},"
        f" mid-retry-queue {any_saga['retry_queue']}"
    )
    lines.append(
        f"sagas left open, over all kills: mid-payment {sagas['payment']}, mid-compensation"
        f" {sagas['compensation']}, mid-retry-queue {sagas['retry_queue']},"
        f" reserving {sagas['reserving']}"
    )
    if recovery_kills.get("kills"):
        lines.append(
            f"kills during recovery: {recovery_kills['kills']}"
            f" (after recovery began and before serving {recovery_kills.get('recovery', 0)},"
            f" once serving {recovery_kills.get('served', 0)},"
            f" before recovery began {recovery_kills.get('before', 0)});"
            f" {recovery_kills.get('cut_short', 0)} cut recovery short, leaving"
            f" {recovery_kills.get('sagas_left_open', 0)} sagas open"
        )
    return lines


@user_errors
def soak(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path.")] = "soak",
    variants: VariantOption = None,
    run_time: Annotated[
        str | None, typer.Option("--run-time", help="Wall-clock load length, e.g. 5m.")
    ] = None,
    as_json: JsonOption = False,
    seed: SeedOption = 1,
    overrides: SetOption = None,
) -> None:
    """Load-test every fault at once for minutes; report load held, faults survived, losses."""
    from checkoutsim.load.soak import soak_figures

    loaded = scenarios.load(scenario, overrides or [], variants or [])
    options = _options(run_time, None, None, seed)
    runs = run_real(loaded, options, show=not as_json)
    figures = [soak_figures(run) for run in runs]
    if as_json:
        emit_json({"scenario": loaded.name, "seed": seed, "variants": figures})
    else:
        render_real(loaded, runs, options)
        out.print(_soak_table(loaded.name, figures))
    if any(not figure["survived"] for figure in figures if chaos_safe(loaded, figure)):
        raise typer.Exit(1)


def chaos_safe(loaded: scenarios.Scenario, figure: dict) -> bool:
    """Whether the figure's variant is one the audit must find clean."""
    from checkoutsim.real.chaos import is_safe

    return is_safe(loaded.variant(figure["variant"]))


def _soak_table(name: str, figures: list[dict]) -> Table:
    """Load held, faults injected and survived, losses: one column per variant."""
    table = Table(title=f"{escape(name)} · soak", title_justify="left")
    table.add_column("figure")
    for figure in figures:
        table.add_column(figure["variant"], justify="right")
    rows = [
        ("wall seconds of load", lambda f: f"{f['wall_s']:.0f}"),
        ("checkouts/s held", lambda f: f"{f['checkouts_per_s']:.1f}"),
        ("orders/s", lambda f: f"{f['orders_per_s']:.1f}"),
        ("faults injected", lambda f: str(f["faults_injected"])),
        *[
            (f"  {kind}", lambda f, kind=kind: str(f["faults"][kind]))
            for kind in (figures[0]["faults"] if figures else {})
        ],
        ("compensations", lambda f: str(f["compensations"])),
        *[
            (loss, lambda f, loss=loss: str(f["losses"][loss]))
            for loss in (figures[0]["losses"] if figures else {})
        ],
        ("survived (audit clean, nothing lost)", lambda f: "yes" if f["survived"] else "NO"),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(figure) for figure in figures])
    return table


if __name__ == "__main__":
    from checkoutsim.cli.app import app

    register_chaos(app)
    app()
