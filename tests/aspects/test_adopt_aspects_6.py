"""
Moving a tutor-contrib-aspects 6.1.0 deployment to these plugins: its config.yml and its data.

The reference's schema is built on the embedded ClickHouse by its own migrations, rendered by
its own plugin from its released wheel and run by the alembic and clickhouse-sqlalchemy releases
its job image pins (all in .venv-reference, which `make test-all` installs). Two things differ
from its Docker deployment, both imposed by this machine: its migrations connect over HTTP
(the harness serves no native protocol), and they are rendered once with the engine's own
`default` user as CLICKHOUSE_ADMIN_USER, the user that the dictionaries of its revisions
0010-0040 log in as to read the server they live in; config.yml then gets the real admin back,
as the reference left it.

Statements arrive the reference's way: Vector's table (its default), with some statements also
in Ralph's table and some twice. Its dbt project (aspects-dbt, not on PyPI) is stood in for by
the two kinds of object that matter here, created as aspects-dbt creates them: a materialized
view fed by Ralph's table, and a reporting view with the name of one of our models.

Then this project's plugins take over the root: config.yml keeps every value, init adopts the
data, every statement is in the raw table once, the models equal those of a fresh deployment
loaded with the same statements, and adopting again changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.tutor import TutorRoot
from tutoraspects.job import xapi_generator

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE_TUTOR = REPOSITORY / ".venv-reference" / "bin" / "tutor"
REFERENCE_ALEMBIC = REPOSITORY / ".venv-reference" / "bin" / "alembic"
ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
# Chosen by the operator of the reference deployment; its generated secrets are kept too.
CUSTOM = {
    "CLICKHOUSE_HOST": "127.0.0.1",
    "CLICKHOUSE_ADMIN_USER": "ch_admin_custom",
    "RALPH_PORT": "8200",
    "ASPECTS_CLICKHOUSE_CMS_USER": "ch_cms_custom",
    "SUPERSET_HOST": "analytics.example.org",
}
STATEMENTS = 1500


def reference_tutor(root: Path, *args: str) -> str:
    result = subprocess.run(
        [str(REFERENCE_TUTOR), *args],
        env=dict(os.environ, TUTOR_ROOT=str(root)),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def sets(values: dict[str, object]) -> list[str]:
    return [argument for name, value in values.items() for argument in ("--set", f"{name}={value}")]


def statements() -> list[tuple[str, str, str]]:
    config = xapi_generator.sized_config(STATEMENTS)
    rows = []
    for line in xapi_generator.iter_statement_json(config):
        statement = json.loads(line)
        rows.append((statement["id"], statement["timestamp"], line))
    return rows


def statements_after_the_switch() -> list[tuple[str, str, str]]:
    """One statement that none of the generated ones is (another seed, a later month)."""
    config = xapi_generator.sized_config(1, seed=99)
    line = next(xapi_generator.iter_statement_json(config))
    statement = json.loads(line)
    return [(statement["id"], statement["timestamp"], line)]


def insert(server: ClickHouseServer, table: str, rows: list[tuple[str, str, str]]) -> None:
    server.client().insert(
        table,
        [list(row) for row in rows],
        column_names=["event_id", "emission_time", "event"],
        settings={"date_time_input_format": "best_effort"},
    )


COURSE_OVERVIEW = (
    "OpenedX,course-v1:OpenedX+Adopt+2026,Adopted course,2026-01-01 00:00:00,,,,False,{},"
    "2025-12-01 00:00:00,2025-12-02 00:00:00,5f0c2a8e-3c1b-4c3e-9a55-111111111111,"
    "2026-01-02 00:00:00"
)


def build_reference(root: Path, server: ClickHouseServer) -> None:
    """The reference's root and schema: config saved by its tutor, migrated by its alembic."""
    reference_tutor(root, "plugins", "enable", "aspects")
    port = {"CLICKHOUSE_INTERNAL_HTTP_PORT": server.port}
    uri = f"clickhouse+http://{server.user}:{server.password}@127.0.0.1:{server.port}/xapi"
    loopback = {"CLICKHOUSE_ADMIN_USER": "default", "CLICKHOUSE_ADMIN_PASSWORD": ""}
    reference_tutor(
        root,
        "config",
        "save",
        *sets({**CUSTOM, **port, **loopback, "CLICKHOUSE_ADMIN_SQLALCHEMY_URI": uri}),
    )
    admin = server.client()
    # Created by the reference's ClickHouse init job (clickhouse-client), before its migrations.
    for database in ("xapi", "openedx", "event_sink", "reporting"):
        admin.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    migrations = root / "env" / "plugins" / "aspects" / "apps" / "aspects" / "migrations"
    subprocess.run(
        [str(REFERENCE_ALEMBIC), "upgrade", "head"],
        cwd=migrations,
        capture_output=True,
        text=True,
        check=True,
    )
    admin_settings = {
        "CLICKHOUSE_ADMIN_USER": server.user,
        "CLICKHOUSE_ADMIN_PASSWORD": server.password,
    }
    reference_tutor(
        root,
        "config",
        "save",
        *sets(admin_settings),
        "--unset",
        "CLICKHOUSE_ADMIN_SQLALCHEMY_URI",
    )


# When a row was built or its statements stored, not what they say: these differ between two
# deployments loaded at different times, and so does the whole of the arrival-delay model.
WHEN_LOADED = ("loaded_at", "last_loaded_at", "dedup_version")
ARRIVAL_MODEL = "ingestion_hourly"


def models(server: ClickHouseServer) -> dict[str, list[tuple]]:
    """Every table of the reporting database, rows sorted, as the dashboards would read them."""
    client = server.client()
    columns: dict[str, list[str]] = {}
    for table, column in client.query(
        "SELECT table, name FROM system.columns WHERE database = 'reporting' AND table IN "
        "(SELECT name FROM system.tables WHERE database = 'reporting' AND engine NOT IN "
        "('MaterializedView', 'View') AND name NOT LIKE '%_aspects6') ORDER BY table, position"
    ).result_rows:
        if column not in WHEN_LOADED and table != ARRIVAL_MODEL:
            columns.setdefault(table, []).append(f"`{column}`")
    return {
        table: sorted(
            client.query(f"SELECT {', '.join(names)} FROM reporting.`{table}`").result_rows,
            key=repr,
        )
        for table, names in columns.items()
    }


def insert_course_overview(server: ClickHouseServer) -> None:
    """A course as platform-plugin-aspects sends it (CSV, the sink's columns in order)."""
    server.client().command("INSERT INTO event_sink.course_overviews FORMAT CSV " + COURSE_OVERVIEW)


def init_aspects(root: TutorRoot) -> str:
    result = root.init_aspects()
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def generated() -> list[tuple[str, str, str]]:
    return statements()


@pytest.fixture(scope="module")
def fresh_models(tmp_path_factory, generated) -> dict[str, list[tuple]]:
    """The models of a fresh deployment whose raw table got the same statements."""
    path = tmp_path_factory.mktemp("fresh")
    with running_clickhouse(path / "clickhouse") as server:
        root = TutorRoot(path / "root").save(ALL_PLUGINS, server.tutor_settings())
        root.run("local", "do", "init", "--limit", "clickhouse")
        job_dir = str(root.aspects_job_dir)
        root.run("local", "do", "alembic", "upgrade", "head", ASPECTS_JOB_DIR=job_dir)
        insert(server, "xapi.xapi_events_all", generated)
        insert_course_overview(server)
        init_aspects(root)
        return models(server)


def test_a_reference_deployment_is_adopted(tmp_path: Path, generated, fresh_models) -> None:
    path = tmp_path / "root"
    path.mkdir()
    admin_password = "Adm1n-of-the-reference"
    with running_clickhouse(
        tmp_path / "clickhouse", user=CUSTOM["CLICKHOUSE_ADMIN_USER"], password=admin_password
    ) as server:
        build_reference(path, server)
        written = yaml.safe_load((path / "config.yml").read_text())
        assert written["CLICKHOUSE_ADMIN_PASSWORD"] == admin_password
        admin = server.client()
        # Vector wrote every statement, the last fifty twice; Ralph wrote a third of them too.
        insert(server, "openedx.xapi_events_all", generated)
        insert(server, "openedx.xapi_events_all", generated[-50:])
        insert(server, "xapi.xapi_events_all", generated[::3])
        insert_course_overview(server)
        # aspects-dbt's first materialized view (Ralph's table -> parsed statements), and one of
        # its reporting views, whose name one of our models has.
        admin.command(
            "CREATE TABLE xapi.xapi_events_all_parsed (event_id UUID, verb_id String) "
            "ENGINE = MergeTree ORDER BY event_id"
        )
        admin.command(
            "CREATE MATERIALIZED VIEW xapi.xapi_events_all_parsed_mv TO "
            "xapi.xapi_events_all_parsed AS SELECT event_id, "
            "JSONExtractString(event, 'verb', 'id') AS verb_id FROM xapi.xapi_events_all"
        )
        admin.command(
            "CREATE VIEW reporting.at_risk_learners AS SELECT event_id FROM "
            "xapi.xapi_events_all_parsed"
        )

        root = TutorRoot(path)
        root.run("plugins", "enable", *ALL_PLUGINS)
        root.run("config", "save")
        kept = yaml.safe_load((path / "config.yml").read_text())
        for name, value in written.items():
            if name != "PLUGINS":
                assert kept[name] == value, f"{name} was not kept"
        assert root.loaded_config()["CLICKHOUSE_PORT"] == str(server.port)
        root.run("local", "do", "init", "--limit", "clickhouse")

        job_dir = str(root.aspects_job_dir)
        plan = root.run("local", "do", "adopt-aspects-6", "--dry-run", ASPECTS_JOB_DIR=job_dir)
        assert "revision 0041" in plan.stdout
        assert "Would: copy" in plan.stdout and "from openedx.xapi_events_all" in plan.stdout
        assert "Would: detach xapi.xapi_events_all_parsed_mv" in plan.stdout
        assert "Would: rename reporting.at_risk_learners" in plan.stdout
        assert admin.command("SELECT count() FROM xapi.xapi_events_all") == len(generated[::3])

        output = init_aspects(root)
        assert "Adopting the tutor-contrib-aspects 6.x schema at revision 0041" in output
        assert "copied 534 of the 801 statements of 202401 from openedx" in output
        ids = {row[0] for row in generated}
        counts = admin.query(
            "SELECT count(), uniqExact(event_id) FROM xapi.xapi_events_all"
        ).result_rows[0]
        assert counts == (len(ids), len(ids))
        # Stopped, not dropped: its table stays; set aside, not dropped: the reference's view.
        views = admin.query(
            "SELECT name FROM system.tables WHERE database = 'xapi' AND engine = 'MaterializedView'"
        ).result_rows
        assert views == []
        assert admin.command("EXISTS TABLE xapi.xapi_events_all_parsed") == 1
        assert admin.command("EXISTS TABLE reporting.at_risk_learners_aspects6") == 1
        assert admin.command("SELECT display_name FROM event_sink.course_overviews") == (
            "Adopted course"
        )
        adopted = models(server)
        assert adopted == fresh_models
        assert adopted["course_enrollments_daily"], "the models hold no figure"

        # Init again, and the command run by hand: nothing more to copy, nothing changes.
        again = init_aspects(root)
        assert "Adopting" not in again
        by_hand = root.run("local", "do", "adopt-aspects-6", ASPECTS_JOB_DIR=job_dir).stdout
        assert "copy" not in by_hand and "detach" not in by_hand and "rename" not in by_hand
        assert admin.command("SELECT count() FROM xapi.xapi_events_all") == len(ids)
        assert models(server) == fresh_models

        # The rollback of docs/upgrading-from-aspects.md: the view runs again, the model is back.
        admin.command("ATTACH TABLE xapi.xapi_events_all_parsed_mv")
        admin.command("DROP TABLE reporting.at_risk_learners")
        admin.command(
            "RENAME TABLE reporting.at_risk_learners_aspects6 TO reporting.at_risk_learners"
        )
        insert(server, "xapi.xapi_events_all", statements_after_the_switch())
        assert admin.command("SELECT count() FROM reporting.at_risk_learners") == 1
