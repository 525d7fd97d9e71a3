"""The host commands of the aspects plugin: `tutor aspects ...`, run on this machine."""

from __future__ import annotations

import typing as t
from pathlib import Path

import click
from tutor import exceptions

from . import grants, superset

# Where the superset plugin renders asset bundles (not imported from it: importing its plugin
# module would register its settings even when it is not enabled).
SUPERSET_ASSETS = ("plugins", "superset", "build", "superset", "assets")


@click.group(name="aspects")
def aspects_command() -> None:
    """Open edX Aspects commands that run on this machine."""


@aspects_command.command(name="check-superset-assets")
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    help="A rendered asset bundle to check; by default the aspects bundle as Tutor last "
    "rendered it in this project (`tutor config save`).",
)
@click.option(
    "--dbt-models",
    type=click.Path(file_okay=False, path_type=Path),
    help="The dbt models folder whose .yml files document the tables' columns; by default the "
    "bundled dbt project's.",
)
@click.option(
    "--clickhouse-url",
    envvar="ASPECTS_CHECK_CLICKHOUSE_URL",
    help="Check the columns on this live ClickHouse server as well, e.g. "
    "http://user:password@localhost:8123 (or set ASPECTS_CHECK_CLICKHOUSE_URL, to keep the "
    "password out of the shell's history); never printed.",
)
@click.pass_obj
def check_superset_assets(
    context: t.Any, bundle: Path | None, dbt_models: Path | None, clickhouse_url: str | None
) -> None:
    """
    Check the Superset asset bundle against the ClickHouse schema: charts' datasets and
    columns, datasets' columns and SQL, dashboards' charts. Exits with 1 on a problem.
    """
    # Imported here: importing them with the plugin would register Tutor's own settings as ours.
    from tutor import config as tutor_config  # noqa: PLC0415
    from tutor import env as tutor_env  # noqa: PLC0415

    # Only this command uses the checker: every other `tutor` call is spared loading it.
    from . import assets_check  # noqa: PLC0415

    config = tutor_config.load(context.root)
    directory = bundle or Path(
        tutor_env.pathjoin(context.root, *SUPERSET_ASSETS, superset.BUNDLE.name)
    )
    if config["DBT_REPOSITORY"] and dbt_models is None:
        click.echo(
            "DBT_REPOSITORY is set: columns are checked against the bundled dbt project's "
            "documentation; give --dbt-models to check against yours."
        )
    try:
        schemas = [
            assets_check.dbt_schema(
                dbt_models or grants.DBT_MODELS,
                config["DBT_PROFILE_TARGET_DATABASE"],
                {
                    "ASPECTS_XAPI_DATABASE": config["ASPECTS_XAPI_DATABASE"],
                    "ASPECTS_RAW_XAPI_TABLE": config["ASPECTS_RAW_XAPI_TABLE"],
                },
            )
        ]
        if clickhouse_url:
            schemas.append(assets_check.clickhouse_schema(clickhouse_url))
        report = assets_check.check_bundle(directory, schemas, assets_check.default_parser(schemas))
    except assets_check.CheckError as error:
        raise exceptions.TutorError(str(error)) from error
    click.echo(assets_check.format_report(report, directory, schemas))
    if not report.ok:
        raise exceptions.TutorError(
            f"{len(report.problems)} problem(s) in the Superset asset bundle {directory}"
        )


@aspects_command.command(name="bundle-superset-export")
@click.argument("export", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def bundle_superset_export(context: t.Any, export: Path, bundle: Path) -> None:
    """
    Turn a Superset export (the zip of its dashboard, chart or dataset export) into the files
    of an asset bundle in BUNDLE: uuids kept, database credentials left out, this deployment's
    database names as settings. A plugin adds BUNDLE to tutorsuperset.hooks.ASSETS; `tutor
    local do import-assets` imports it. A file of an object written again under another name
    is replaced; other files in BUNDLE are left alone.
    """
    import zipfile  # noqa: PLC0415

    from tutor import config as tutor_config  # noqa: PLC0415

    from . import assets_export  # noqa: PLC0415

    config = tutor_config.load(context.root)
    databases = {key: config[key] for key in assets_export.DATABASE_SETTINGS if key in config}
    try:
        with zipfile.ZipFile(export) as archive:
            files = assets_export.bundle_files(archive, databases)
    except (zipfile.BadZipFile, assets_export.ExportError) as error:
        raise exceptions.TutorError(f"{export}: {error}") from error
    written = assets_export.write_bundle(bundle, files)
    click.echo(f"{written} file(s) of {export} written to {bundle}")
