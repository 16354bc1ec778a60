"""``flask clinics import|export``: the directory as flat CSV, HSDS JSON or HSDS CSV (docs/HSDS.md)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..exchange.common import FORMATS
from ..models import Status

clinics_cli = AppGroup("clinics", help="Open data: import and export listings.")
MAX_SHOWN = 200


@clinics_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Which format to write.")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def export_command(fmt: str, path: Path | None) -> None:
    """Export the published directory to PATH (default: instance/exports/, served at /open-data/)."""
    from ..exchange import export
    from ..extensions import db

    session = db.session()
    target = path or export.default_target(current_app.instance_path, fmt)
    settings = export.ExportSettings(base_url=current_app.config["BASE_URL"],
                                     license=current_app.config.get("DATA_LICENSE") or "CC-BY-4.0",
                                     attribution=current_app.config.get("DATA_ATTRIBUTION"))
    total = export.count_published(session)
    with click.progressbar(length=total, label=f"Exporting {fmt}", file=sys.stderr) as bar:
        result = export.export(session, fmt, target, settings, progress=bar.update)
    click.echo(f"Exported {result.clinics} published listing(s) as {fmt} to {result.path}")


@clinics_cli.command("import")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="The input's format (default: detected from PATH).")
@click.option("--publish", is_flag=True, help="Publish the imported listings (default: pending moderation).")
@click.argument("path", type=click.Path(path_type=Path))
def import_command(fmt: str | None, publish: bool, path: Path) -> None:
    """Import listings from PATH, all or nothing: any problem stores nothing and exits 1."""
    from ..exchange import importer
    from ..extensions import db

    session = db.session()
    bar_holder: dict = {}

    def checking(count: int) -> None:
        click.echo(f"\rChecked {count:,} record(s)", err=True, nl=False)

    def checked(report: importer.ImportReport) -> None:
        click.echo(f"\rChecked {report.records:,} record(s)", err=True)
        if not report.problems and report.records:
            bar = click.progressbar(length=report.records, label="Importing", file=sys.stderr)
            bar_holder["bar"] = bar.__enter__()

    click.echo(f"Checking {path} ...", err=True)
    try:
        report = importer.run_import(session, path, fmt, publish=publish, checked=checked, checking=checking,
                                     progress=lambda n: bar_holder["bar"].update(n) if "bar" in bar_holder else None)
    finally:
        if "bar" in bar_holder:
            bar_holder["bar"].__exit__(None, None, None)
    for skipped in report.skipped[:MAX_SHOWN]:
        click.echo(str(skipped))
    if len(report.skipped) > MAX_SHOWN:
        click.echo(f"... and {len(report.skipped) - MAX_SHOWN} more skipped record(s)")
    if report.problems:
        for problem in report.problems[:MAX_SHOWN]:
            click.echo(str(problem), err=True)
        if len(report.problems) > MAX_SHOWN:
            click.echo(f"... and {len(report.problems) - MAX_SHOWN} more problem(s)", err=True)
        click.echo(f"Import refused: {len(report.problems)} problem(s); nothing was stored.", err=True)
        sys.exit(1)
    for waiting in report.waiting[:MAX_SHOWN]:
        click.echo(str(waiting))
    if len(report.waiting) > MAX_SHOWN:
        click.echo(f"... and {len(report.waiting) - MAX_SHOWN} more listing(s) with changes waiting")
    status = Status.PUBLISHED if publish else Status.PENDING
    click.echo(f"Imported {report.format}: {report.created} new and {report.updated} updated listing(s) "
               f"({status}), {len(report.waiting)} with changes waiting for a moderator, "
               f"{report.unchanged} unchanged, {len(report.skipped)} skipped.")


def register(app: Flask) -> None:
    app.cli.add_command(clinics_cli)
