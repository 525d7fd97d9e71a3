"""
The aspects jobs: the `tutor local|dev|k8s do` commands, what the jobs' environment holds, and
the job files copied into the image's build context.
"""

from __future__ import annotations

import filecmp
import json
import shlex
import shutil
import typing as t
from pathlib import Path

import click
import jinja2
from tutor import hooks
from tutor.types import Config

from tutorcommon.rendering import compiled

from . import reference
from .grants import JOB_FOLDER
from .settings import AT_RISK_KEYS, EVENT_SINK_MODELS

########################################
# WHAT THE JOBS RUN WITH
########################################

# Job files sit in /app in the job image; tests point ASPECTS_JOB_DIR at the build context.
JOB_DIR = "${ASPECTS_JOB_DIR:-/app}"
ALEMBIC = f'alembic -c "{JOB_DIR}/migrations/alembic.ini"'
DBT = f'sh "{JOB_DIR}/run_dbt.sh"'
ADOPT = f'python3 "{JOB_DIR}/adopt_aspects_6.py"'

# The jobs' settings, rendered into their environment (not their scripts).
JOB_ENVIRONMENT = {
    "ASPECTS_CLICKHOUSE_HOST": "{{ CLICKHOUSE_HOST }}",
    "ASPECTS_CLICKHOUSE_PORT": "{{ CLICKHOUSE_PORT }}",
    "ASPECTS_CLICKHOUSE_SECURE": "{{ CLICKHOUSE_SECURE_CONNECTION }}",
    "ASPECTS_CLICKHOUSE_USER": "{{ ASPECTS_CLICKHOUSE_MIGRATIONS_USER }}",
    "ASPECTS_CLICKHOUSE_RETIREMENT_USER": "{{ ASPECTS_CLICKHOUSE_RETIREMENT_USER }}",
    "ASPECTS_XAPI_DATABASE": "{{ ASPECTS_XAPI_DATABASE }}",
    "ASPECTS_RAW_XAPI_TABLE": "{{ ASPECTS_RAW_XAPI_TABLE }}",
    "ASPECTS_EVENT_SINK_DATABASE": "{{ ASPECTS_EVENT_SINK_DATABASE }}",
    "ASPECTS_REPORTING_DATABASE": "{{ DBT_PROFILE_TARGET_DATABASE }}",
    "ASPECTS_DATA_TTL_EXPRESSION": "{{ ASPECTS_DATA_TTL_EXPRESSION }}",
    "CLICKHOUSE_CLUSTER_NAME": "{{ CLICKHOUSE_CLUSTER_NAME }}",
    "RALPH_URL": "http{% if RALPH_RUN_HTTPS %}s{% endif %}://{{ RALPH_HOST }}:{{ RALPH_PORT }}",
    "RALPH_LMS_USERNAME": "{{ RALPH_LMS_USERNAME }}",
    "LMS_URL": "http{% if ENABLE_HTTPS %}s{% endif %}://{{ LMS_HOST }}",
    **{key: "{{ " + key + " }}" for key in AT_RISK_KEYS},
    "DBT_REPOSITORY": "{{ DBT_REPOSITORY }}",
    "DBT_BRANCH": "{{ DBT_BRANCH }}",
    "DBT_REPOSITORY_PATH": "{{ DBT_REPOSITORY_PATH }}",
    **reference.ADOPTION_ENVIRONMENT,
}


# Kept out of the job scripts (and so out of Tutor's output): the jobs read them from their
# environment, given by docker compose or by the aspects-job Kubernetes Secret.
JOB_SECRETS = {
    "ASPECTS_CLICKHOUSE_PASSWORD": "{{ ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD }}",
    "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD": "{{ ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD }}",
    "RALPH_LMS_PASSWORD": "{{ RALPH_LMS_PASSWORD }}",
}
# The scheduled dbt runs (aspects-dbt) log in as the schema owner: no other password reaches them.
DBT_SECRETS = ("ASPECTS_CLICKHOUSE_PASSWORD",)


@jinja2.pass_context
def aspects_job_environment(
    context: jinja2.runtime.Context, secrets: bool | t.Sequence[str] = False
) -> dict[str, str]:
    """The aspects jobs' settings, with their passwords (or those named) if `secrets`, rendered."""
    names = JOB_SECRETS if secrets is True else secrets or ()
    variables = {**JOB_ENVIRONMENT, **{name: JOB_SECRETS[name] for name in names}}
    values = context.get_all()
    return {
        name: compiled(context.environment, value).render(values)
        for name, value in variables.items()
    }


########################################
# DO COMMANDS
########################################


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def alembic(args: tuple[str, ...]) -> t.Iterator[tuple[str, str]]:
    """Run alembic, the ClickHouse schema migrations tool, e.g. `history` or `downgrade 0001`."""
    command = " ".join(shlex.quote(arg) for arg in args or ("current",))
    yield ("aspects", f"{ALEMBIC} {command}")


@click.command(name="load-xapi-test-data")
@click.option("--statements", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same statements.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--direct", is_flag=True, help="Insert into ClickHouse instead of going through Ralph."
)
def load_xapi_test_data(
    statements: int, seed: int, batch_size: int, direct: bool
) -> t.Iterator[tuple[str, str]]:
    """Load generated xAPI test statements, through Ralph as the LMS sends them."""
    options = f"--statements {statements} --seed {seed} --batch-size {batch_size}"
    yield (
        "aspects",
        f'python3 "{JOB_DIR}/load_xapi_test_data.py" {options}' + (" --direct" if direct else ""),
    )


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt(args: tuple[str, ...]) -> t.Iterator[tuple[str, str]]:
    """
    Run dbt on the Aspects models: by default only the models changed since the last complete
    run; or any dbt command, e.g. `run`, `test`, `build --select video_engagement`.
    """
    command = " ".join(shlex.quote(arg) for arg in args or ("changed",))
    yield ("aspects", f"{DBT} {command}")


@click.command(name="adopt-aspects-6")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
def adopt_aspects_6(dry_run: bool) -> t.Iterator[tuple[str, str]]:
    """
    Adopt the ClickHouse data of a tutor-contrib-aspects 6.x deployment: copy its statements
    into the raw table (each once), stop its materialized views and set aside its models that
    have the names of ours. Init does it too when it finds such a schema.
    """
    yield ("aspects", f"{ADOPT}" + (" --dry-run" if dry_run else ""))


@click.command(name="init-clickhouse")
def init_clickhouse() -> t.Iterator[tuple[str, str]]:
    """Create everything Aspects needs in ClickHouse: databases, users, schema and models."""
    for plugin in ("clickhouse", "aspects"):
        for service, script in hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(
            hooks.Contexts.app(plugin).name
        ):
            # Not the LMS task of this plugin: it configures the LMS, not ClickHouse.
            if service in ("clickhouse", "aspects"):
                yield service, script


def _actor_ids(
    _context: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """Actor ids as statements carry them, checked as the job checks them."""
    # The job's module, imported by the one command that needs it.
    import argparse  # noqa: PLC0415

    from .job.delete_learner_data import actor_id  # noqa: PLC0415

    try:
        return tuple(actor_id(value) for value in values)
    except argparse.ArgumentTypeError as error:
        raise click.BadParameter(str(error)) from None


@click.command(name="delete-learner-data")
@click.option(
    "--user-id",
    "user_ids",
    type=click.IntRange(min=1),
    multiple=True,
    help="LMS user id of a learner (repeat for more); their actor ids are looked up in the "
    "event sink's external_id table.",
)
@click.option(
    "--actor-id",
    "actor_ids",
    multiple=True,
    callback=_actor_ids,
    help="Anonymous id that a learner's xAPI statements carry as actor, their external id of "
    "type xapi: a UUID, e.g. 2f1c9a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b (repeat for more).",
)
def delete_learner_data(
    user_ids: tuple[int, ...], actor_ids: tuple[str, ...]
) -> t.Iterator[tuple[str, str]]:
    """
    Delete every row of retired learners from ClickHouse: their xAPI statements, their rows in
    every reporting table and in the event sink tables. Returns once the rows are gone; safe to
    run again.
    """
    if not user_ids and not actor_ids:
        raise click.UsageError("give at least one --user-id or --actor-id")
    options = " ".join(
        [f"--user-id {user_id}" for user_id in user_ids]
        + [f"--actor-id {shlex.quote(actor)}" for actor in actor_ids]
    )
    yield ("aspects", f'python3 "{JOB_DIR}/delete_learner_data.py" {options}')


# Where Tutor's LMS writes its tracking logs, as a Libcloud LOCAL source: the folder `key`, its
# subfolder `container` and the start of the file names `prefix` (rotated logs included).
TRACKING_LOGS = {"key": "/openedx/data", "container": "logs", "prefix": "tracking.log"}


def _json_object(_context: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check that an option is a JSON object; give it back on one line."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise click.BadParameter('must be a JSON object, e.g. \'{"container": "logs"}\'')
    return json.dumps(parsed)


def _options(**options: t.Any) -> str:
    """Management command options, quoted for sh: flags when true, repeated values as a list."""
    words: list[str] = []
    for name, value in options.items():
        if value is None or value is False or value == ():
            continue
        words.append(f"--{name}")
        if isinstance(value, tuple):
            words += [shlex.quote(str(item)) for item in value]
        elif value is not True:
            words.append(shlex.quote(str(value)))
    return " ".join(words)


@click.command(name="transform-tracking-logs")
@click.option(
    "--source-provider",
    "--source_provider",
    default="LOCAL",
    show_default=True,
    help="Apache Libcloud storage provider holding the logs, e.g. LOCAL, S3, MINIO.",
)
@click.option(
    "--source-config",
    "--source_config",
    default=json.dumps(TRACKING_LOGS),
    show_default=True,
    callback=_json_object,
    help="JSON object: `container` (bucket, or subfolder of the folder `key` for LOCAL), "
    "`prefix` (start of the log file names) and the provider's credentials. Tutor prints the "
    "job, credentials included.",
)
@click.option(
    "--destination-provider",
    "--destination_provider",
    default="LRS",
    show_default=True,
    help="LRS: the LMS's enabled xAPI routers (Ralph); or a Libcloud provider to write files of "
    "statements to.",
)
@click.option(
    "--destination-config",
    "--destination_config",
    callback=_json_object,
    help="JSON object of the destination provider, like --source-config (not for LRS).",
)
@click.option(
    "--transformer-type",
    "--transformer_type",
    type=click.Choice(["xapi", "caliper"]),
    default="xapi",
    show_default=True,
)
@click.option(
    "--batch-size",
    "--batch_size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Statements per request to the LRS (or per file).",
)
@click.option(
    "--sleep-between-batches-secs",
    "--sleep_between_batches_secs",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Pause between batches, to spare the LMS and Ralph.",
)
@click.option("--dry-run", "--dry_run", is_flag=True, help="Transform every line but send nothing.")
@click.option(
    "--lrs-url",
    "lrs_urls",
    multiple=True,
    help="Send only to the router with this URL (repeat for more); default: every enabled one.",
)
def transform_tracking_logs(
    source_provider: str,
    source_config: str,
    destination_provider: str,
    destination_config: str | None,
    transformer_type: str,
    batch_size: int,
    sleep_between_batches_secs: float,
    dry_run: bool,
    lrs_urls: tuple[str, ...],
) -> t.Iterator[tuple[str, str]]:
    """
    Replay tracking log files through event-routing-backends: each event becomes an xAPI
    statement sent to Ralph, as if the LMS had just emitted it. Statements already stored are
    not stored twice.
    """
    if destination_provider != "LRS" and destination_config is None:
        raise click.UsageError("--destination-config is needed unless the destination is LRS")
    source = json.loads(source_config)
    where = f"{source.get('container', '')}/{source.get('prefix', '')}*"
    options = _options(
        source_provider=source_provider,
        source_config=source_config,
        destination_provider=destination_provider,
        destination_config=destination_config,
        transformer_type=transformer_type,
        batch_size=batch_size,
        sleep_between_batches_secs=sleep_between_batches_secs,
        dry_run=dry_run,
        **{"lrs-urls": lrs_urls},
    )
    target = "nowhere (dry run)" if dry_run else destination_provider
    message = (
        f"Transforming the tracking logs {where} ({source_provider}) into {transformer_type} "
        f"statements, sent to {target}"
    )
    yield (
        "lms",
        f"echo {shlex.quote(message)}\n"
        f"./manage.py lms transform_tracking_logs {options}\n"
        "echo 'Tracking logs transformed'",
    )


@click.command(name="dump-data-to-clickhouse")
@click.option(
    "--service",
    type=click.Choice(["lms", "cms"]),
    default="lms",
    show_default=True,
    help="Where to run the command.",
)
@click.option(
    "--object",
    "object_",
    type=click.Choice(EVENT_SINK_MODELS),
    default="course_overviews",
    show_default=True,
    help="What to send (it must be in EVENT_SINK_MODELS_ENABLED).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Send every object, not only those changed since they were last sent.",
)
@click.option("--ids", multiple=True, help="Send only this object (repeat for more).")
@click.option(
    "--ids-to-skip", "--ids_to_skip", multiple=True, help="Leave out this object (repeatable)."
)
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many objects.")
@click.option(
    "--batch-size", "--batch_size", type=click.IntRange(min=1), default=10_000, show_default=True
)
@click.option(
    "--sleep-time",
    "--sleep_time",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Seconds to pause between batches.",
)
def dump_data_to_clickhouse(
    service: str,
    object_: str,
    force: bool,
    ids: tuple[str, ...],
    ids_to_skip: tuple[str, ...],
    limit: int | None,
    batch_size: int,
    sleep_time: int,
) -> t.Iterator[tuple[str, str]]:
    """
    Backfill the event sink database: send existing courses (or another object) to ClickHouse
    with platform-plugin-aspects, e.g. after installing Aspects on a running platform.
    """
    if limit is not None and (ids or force):
        raise click.UsageError("--limit cannot be used with --ids or --force")
    options = _options(
        object=object_,
        batch_size=batch_size,
        sleep_time=sleep_time,
        force=force,
        ids=ids,
        ids_to_skip=ids_to_skip,
        limit=limit,
    )
    which = "every" if force else "new and changed"
    yield (
        service,
        f"echo 'Sending {which} {object_} to ClickHouse from the {service}'\n"
        f"./manage.py {service} dump_data_to_clickhouse {options}\n"
        f"echo 'Sent {object_} to ClickHouse'",
    )


COMMANDS = [
    adopt_aspects_6,
    alembic,
    dbt,
    delete_learner_data,
    dump_data_to_clickhouse,
    init_clickhouse,
    load_xapi_test_data,
    transform_tracking_logs,
]


########################################
# THE JOB IMAGE'S FILES
########################################

# What running dbt (or Python) leaves in the job folders.
NOT_JOB_FILES = frozenset({"__pycache__", "target", "logs", "dbt_packages", ".user.yml"})


def sync_tree(source: Path, target: Path) -> None:
    """
    Make `target` a copy of `source`, leaving out NOT_JOB_FILES, and write only the files that
    changed: `tutor config save` does this at every save.
    """
    wanted = set()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if NOT_JOB_FILES.intersection(relative.parts):
            continue
        wanted.add(relative)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.is_file() or not filecmp.cmp(path, destination):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    for path in sorted(target.rglob("*"), reverse=True):  # deepest first
        relative = path.relative_to(target)
        if relative not in wanted and not NOT_JOB_FILES.intersection(relative.parts):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_job_files(root_env: str, _config: Config) -> None:
    """
    Bring the job files of the image's build context up to date (at each `config save`): not
    Tutor templates (their own Jinja or Mako must stay as it is), so copied verbatim.
    """
    context = Path(root_env) / "plugins" / "aspects" / "build" / "aspects"
    for source in JOB_FOLDER.iterdir():
        if source.name in NOT_JOB_FILES:
            continue
        if source.is_dir():
            sync_tree(source, context / source.name)
        else:
            shutil.copy2(source, context / source.name)
