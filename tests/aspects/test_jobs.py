"""
The aspects job: its image's build context, its compose and Kubernetes definitions, and its
init task (the ClickHouse schema migrations) run by `tutor local do init` on this machine
against the embedded ClickHouse server.
"""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

from tests.harness.fixtures import running_clickhouse
from tests.harness.tutor import BIN, TutorRoot, check_posix_script
from tutoraspects.jobs import NOT_JOB_FILES

REPOSITORY = Path(__file__).resolve().parents[2]
JOB_FOLDER = REPOSITORY / "tutor-contrib-aspects" / "tutoraspects" / "job"
ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]


@pytest.fixture(scope="module")
def root(make_root) -> TutorRoot:
    return make_root(ALL_PLUGINS)


def build_context(root: TutorRoot) -> Path:
    return root.path / "env" / "plugins" / "aspects" / "build" / "aspects"


def pinned(requirements: Path) -> dict[str, str]:
    """The name==version pins of a requirements file, following its -r includes."""
    pins: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.startswith("-r "):
            pins |= pinned(requirements.parent / line[3:].strip())
        elif "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[name.lower()] = version
    return pins


def test_the_tests_run_the_job_images_packages(root: TutorRoot) -> None:
    # What the image installs: its build context's requirements file, as rendered.
    image = pinned(build_context(root) / "requirements.txt")
    assert {"alembic", "clickhouse-connect", "dbt-core", "dbt-clickhouse"} <= set(image)
    venv = REPOSITORY / ".venv-dbt" / "bin" / "python"
    code = "import sys, importlib.metadata as m; print(*(m.version(n) for n in sys.argv[1:]))"
    installed = subprocess.run(
        [str(venv), "-c", code, *image], capture_output=True, text=True, check=True
    ).stdout.split()
    assert dict(zip(image, installed, strict=True)) == image


def test_init_order_is_clickhouse_then_aspects_schema_then_ralph(root: TutorRoot) -> None:
    services = [service for service, _ in root.init_scripts(None)]
    ours = [service for service in services if service in ("clickhouse", "aspects", "ralph")]
    assert ours == ["clickhouse", "aspects", "ralph"]


def test_init_script_is_posix_sh(root: TutorRoot, tmp_path: Path) -> None:
    # The aspects job's task, then the one in the LMS (tests/aspects/test_lms.py).
    tasks = root.init_scripts("aspects")
    assert [service for service, _ in tasks] == ["aspects", "lms"]
    for _, script in tasks:
        check_posix_script(script, tmp_path)


def test_image_build_context_holds_the_job_folder_verbatim(root: TutorRoot) -> None:
    # Every file of tutoraspects/job, whatever its name: nothing lists them.
    entries = [path for path in JOB_FOLDER.iterdir() if path.name not in NOT_JOB_FILES]
    assert {"migrations", "dbt", "run_dbt.sh", "xapi_generator.py"} <= {p.name for p in entries}
    for source in entries:
        copy = build_context(root) / source.name
        if source.is_dir():
            assert_same_tree(source, copy)
        else:
            assert filecmp.cmp(source, copy, shallow=False), source.name
    dbt = build_context(root) / "dbt"
    assert (dbt / "dbt_project.yml").read_bytes() == (
        JOB_FOLDER / "dbt" / "dbt_project.yml"
    ).read_bytes()
    assert not (dbt / "target").exists()
    requirements = (build_context(root) / "requirements.txt").read_text()
    assert (
        "-r migrations/requirements.txt" in requirements
        and "-r dbt/requirements.txt" in requirements
    )
    subprocess.run(
        [str(BIN / "shellcheck"), "--shell=sh", str(build_context(root) / "run_dbt.sh")], check=True
    )


def assert_same_tree(source: Path, copy: Path) -> None:
    comparison = filecmp.dircmp(source, copy, ignore=list(NOT_JOB_FILES))
    assert comparison.left_only == comparison.right_only == comparison.diff_files == [], source
    for name in comparison.common_dirs:
        assert_same_tree(source / name, copy / name)


def test_saving_again_rewrites_only_what_changed_and_removes_what_is_gone(
    root: TutorRoot,
) -> None:
    dbt = build_context(root) / "dbt"
    project = dbt / "dbt_project.yml"
    written = project.stat().st_mtime_ns
    (dbt / "models" / "removed_since.sql").write_text("select 1\n")  # a file the package lost
    (dbt / "models" / "base" / "xapi_events_parsed.sql").write_text("-- changed by hand\n")
    (dbt / "target").mkdir()  # what a dbt run leaves, which the image build ignores
    root.run("config", "save")
    assert project.stat().st_mtime_ns == written
    assert not (dbt / "models" / "removed_since.sql").exists()
    assert filecmp.cmp(
        JOB_FOLDER / "dbt" / "models" / "base" / "xapi_events_parsed.sql",
        dbt / "models" / "base" / "xapi_events_parsed.sql",
        shallow=False,
    )
    assert (dbt / "target").is_dir()
    (dbt / "target").rmdir()


def test_extra_dbt_packages_go_into_the_image(make_root) -> None:
    root = make_root(ALL_PLUGINS, {"EXTRA_DBT_PACKAGES": ["dbt-expectations-helpers==1.0"]})
    requirements = (build_context(root) / "requirements.txt").read_text().splitlines()
    assert requirements[-1] == "dbt-expectations-helpers==1.0"
    error = root.save_invalid("EXTRA_DBT_PACKAGES", "not-a-list")
    assert "EXTRA_DBT_PACKAGES must be a list of pip requirements" in error
    dockerfile = build_context(root) / "Dockerfile"
    subprocess.run(
        [str(BIN / "hadolint"), str(dockerfile)],
        check=True,
        capture_output=True,
    )


def test_job_definitions_pass_the_migrations_user_without_showing_its_password(
    root: TutorRoot,
) -> None:
    config = root.config()
    job = root.compose_config(jobs=True)["services"]["aspects-job"]
    assert job["environment"]["ASPECTS_CLICKHOUSE_USER"] == "ch_migrations"
    assert job["environment"]["ASPECTS_CLICKHOUSE_HOST"] == "clickhouse"
    assert (
        job["environment"]["ASPECTS_CLICKHOUSE_PASSWORD"]
        == config["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"]
    )
    manifests = root.manifests()
    container = manifests[("Job", "aspects-job")]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]}["ASPECTS_XAPI_DATABASE"] == "xapi"
    assert container["envFrom"] == [{"secretRef": {"name": "aspects-job"}}]
    secret = manifests[("Secret", "aspects-job")]
    assert (
        secret["stringData"]["ASPECTS_CLICKHOUSE_PASSWORD"]
        == config["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"]
    )
    # The user of `do delete-learner-data`, whose password also stays out of the job's script.
    assert job["environment"]["ASPECTS_CLICKHOUSE_RETIREMENT_USER"] == "ch_retirement"
    retirement_password = config["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"]
    assert job["environment"]["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"] == retirement_password
    assert secret["stringData"]["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"] == retirement_password
    assert "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD" not in {e["name"] for e in container["env"]}
    for _, script in root.init_scripts("aspects"):
        assert config["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"] not in script


def test_schema_is_created_by_the_migrations_user_and_reruns_change_nothing(
    tmp_path: Path,
) -> None:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse", "ralph", "aspects"],
            server.tutor_settings(),
        )
        job_dir = str(build_context(root))
        root.run("local", "do", "init", "--limit", "clickhouse")
        admin = server.client()
        schemas = []
        for _ in range(2):
            # The plugin's task in the LMS has its own tests (test_lms.py).
            result = root.init_aspects()
            output = result.stdout + result.stderr
            assert "Upgrading the Aspects ClickHouse schema" in output
            assert root.config()["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"] not in output
            schemas.append(
                [
                    admin.command(f"SHOW CREATE TABLE {table}")
                    for table in (
                        "xapi.xapi_events_all",
                        "event_sink.course_overviews",
                        "event_sink.course_blocks",
                    )
                ]
            )
        assert schemas[0] == schemas[1]
        assert "Building the Aspects reporting models with dbt" in output
        reporting = {row[0] for row in admin.query("SHOW TABLES FROM reporting").result_rows}
        assert {"xapi_events_parsed", "course_enrollments_daily", "video_engagement"} <= reporting
        assert "ReplacingMergeTree" in schemas[0][0]
        assert "PARTITION BY toYYYYMM(emission_time)" in schemas[0][0]
        history = root.run("local", "do", "alembic", "history", ASPECTS_JOB_DIR=job_dir)
        assert "0001" in history.stdout and "0002" in history.stdout


def test_dbt_builds_only_what_changed_since_the_last_complete_run(tmp_path: Path) -> None:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse", "ralph", "aspects"],
            server.tutor_settings(),
        )
        job_dir = build_context(root)
        root.run("local", "do", "init", "--limit", "clickhouse")

        def init() -> str:
            return root.init_aspects().stdout

        first = init()
        assert "No saved dbt state: every model will be built." in first
        assert "`reporting`.`course_enrollments_daily`" in first
        second = init()
        assert "Building only the models changed since the last complete dbt run." in second
        assert "Nothing to do" in second
        # A new release changes one model: only it is rebuilt (its children would be too).
        model = job_dir / "dbt" / "models" / "engagement" / "video_engagement.sql"
        model.write_text(model.read_text() + "\n-- changed\n")
        third = root.run("local", "do", "dbt", ASPECTS_JOB_DIR=str(job_dir)).stdout
        assert "`reporting`.`video_engagement`" in third
        assert "`reporting`.`course_enrollments_daily`" not in third
        # A release adds a column to the parsed statements: the table gets it, rebuilt from the
        # raw table with every model built on it (an incremental run would drop the column).
        parsed = job_dir / "dbt" / "models" / "base" / "xapi_events_parsed.sql"
        sql = parsed.read_text()
        parsed.write_text(sql.replace("select\n", "select\n    'v2' as release_probe,\n", 1))
        fourth = root.run("local", "do", "dbt", ASPECTS_JOB_DIR=str(job_dir)).stdout
        assert "Rebuilding from scratch the models changed" in fourth
        assert "`reporting`.`course_enrollments_daily`" in fourth
        columns = server.client().query("DESCRIBE TABLE reporting.xapi_events_parsed")
        assert "release_probe" in [row[0] for row in columns.result_rows]


def test_dbt_runs_every_few_minutes(root: TutorRoot, make_root) -> None:
    service = root.compose_config()["services"]["aspects-dbt"]
    assert service["image"] == root.compose_config(jobs=True)["services"]["aspects-job"]["image"]
    assert "sh /app/run_dbt.sh run" in service["command"][-1]
    assert "sleep 300" in service["command"][-1]
    assert service["environment"]["ASPECTS_CLICKHOUSE_USER"] == "ch_migrations"
    cronjob = root.manifests()[("CronJob", "aspects-dbt")]
    assert cronjob["spec"]["schedule"] == "*/5 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # Of the aspects-job Secret, only the schema owner's password.
    [password] = [e for e in pod["containers"][0]["env"] if "valueFrom" in e]
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": "aspects-job",
        "key": "ASPECTS_CLICKHOUSE_PASSWORD",
    }

    manual = make_root(ALL_PLUGINS, {"ASPECTS_DBT_RUN_INTERVAL_MINUTES": 0})
    assert "aspects-dbt" not in manual.compose_config()["services"]
    assert ("CronJob", "aspects-dbt") not in manual.manifests()
    error = manual.save_invalid("ASPECTS_DBT_RUN_INTERVAL_MINUTES", 60)
    assert "ASPECTS_DBT_RUN_INTERVAL_MINUTES must be a whole number from 0 to 59" in error


def test_the_at_risk_criteria_reach_the_dbt_runs(make_root) -> None:
    """dbt reads them from the environment (models/learners/at_risk_learners.sql)."""
    criteria = {
        "ASPECTS_AT_RISK_INACTIVE_DAYS": 30,
        "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT": 0,
        "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT": 10,
    }
    root = make_root(ALL_PLUGINS, criteria)
    expected = {key: str(value) for key, value in criteria.items()}
    for service in (
        root.compose_config()["services"]["aspects-dbt"],
        root.compose_config(jobs=True)["services"]["aspects-job"],
    ):
        assert {key: service["environment"][key] for key in criteria} == expected
    cronjob = root.manifests()[("CronJob", "aspects-dbt")]
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {key: env[key] for key in criteria} == expected
