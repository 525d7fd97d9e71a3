"""
Where the secrets of a Tutor root with the four plugins go: the rendered files that hold one are
readable by their owner only (or are mounted into a container, or are Tutor's own: listed
below, with why); Tutor's output of every job and `do` command that runs here, and Ralph's log,
hold none; the ClickHouse admin password reaches the clickhouse init job only, the one that
creates the other users.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.harness.secrets import clickhouse_digests, found_in, secret_values
from tests.harness.tutor import TutorRoot
from tests.reliability.conftest import Stack

ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]

# What each plugin makes readable by its owner only after `tutor config save`: files that only
# docker compose (compose files, env_file) and kubectl (Secrets) read, as the user who saved
# them.
COMPOSE_FILES = {"local/docker-compose.yml", "local/docker-compose.jobs.yml"}
PRIVATE = {
    "clickhouse": {"plugins/clickhouse/k8s/admin-secret.yml", *COMPOSE_FILES},
    "ralph": {"plugins/ralph/apps/ralph.env", "plugins/ralph/kustomization.yml", *COMPOSE_FILES},
    "superset": {
        "plugins/superset/apps/superset.env",
        "plugins/superset/kustomization.yml",
        *COMPOSE_FILES,
    },
    "aspects": {"plugins/aspects/k8s/job-secret.yml", *COMPOSE_FILES},
}
# Files that hold a secret and keep the mode Tutor gives them (umask), and why.
MOUNTED = "mounted read-only into a container whose user is not the owner of the file"
EXCEPTIONS = {
    # Ours, mounted into the service's container: digests, never passwords.
    "plugins/clickhouse/apps/config/users.xml": f"{MOUNTED}; the admin password's digest",
    "plugins/ralph/apps/auth.json": f"{MOUNTED}; bcrypt hashes of the Ralph users' passwords",
    # Tutor's own files, written by Tutor (its secrets, and the plugins' through its patches).
    "apps/openedx/config/lms.env.yml": f"Tutor's; {MOUNTED} (the LMS)",
    "apps/openedx/config/cms.env.yml": f"Tutor's; {MOUNTED} (the CMS)",
    "apps/openedx/settings/lms/production.py": f"Tutor's; {MOUNTED} (the LMS)",
    "apps/openedx/settings/lms/development.py": f"Tutor's; {MOUNTED} (the LMS)",
    "apps/openedx/settings/cms/production.py": f"Tutor's; {MOUNTED} (the CMS)",
    "apps/openedx/settings/cms/development.py": f"Tutor's; {MOUNTED} (the CMS)",
    "k8s/deployments.yml": "Tutor's, with Tutor's secrets",
}
# The secrets of the four plugins: their keys (each plugin's own prefix) in config.yml.
PLUGIN_PREFIXES = ("CLICKHOUSE_", "RALPH_", "SUPERSET_", "ASPECTS_")
ASPECTS_CLICKHOUSE_USERS = ("CMS", "LRS", "MIGRATIONS", "REPORT", "RETIREMENT")


def holders(root: TutorRoot, secrets: t.Mapping[str, str]) -> dict[str, list[str]]:
    """{file under env/: the keys of the secrets it holds} for every file that holds one."""
    found = {
        path.relative_to(root.path / "env").as_posix(): found_in(text, secrets)
        for path, text in root.rendered_files().items()
    }
    return {path: keys for path, keys in found.items() if keys}


def mode(root: TutorRoot, path: str) -> int:
    return (root.path / "env" / path).stat().st_mode & 0o777


def all_secrets(root: TutorRoot) -> dict[str, str]:
    config = root.config()
    return {**secret_values(config), **clickhouse_digests(config)}


@pytest.fixture(scope="module")
def root(make_root) -> TutorRoot:
    return make_root(ALL_PLUGINS)


def test_files_holding_a_secret_are_readable_by_their_owner_only(root: TutorRoot) -> None:
    private = set().union(*PRIVATE.values())
    for save in ("first", "second"):
        if save == "second":
            root.run("config", "save")
        found = holders(root, all_secrets(root))
        assert set(found) - set(EXCEPTIONS) == private, save
        assert {path: oct(mode(root, path)) for path in private} == {
            path: oct(0o600) for path in private
        }, save
    # Nothing with a secret goes into an image: build contexts hold none.
    assert not [path for path in found if "/build/" in path]
    # The files kept readable hold what their reason says, and no more.
    assert found["plugins/clickhouse/apps/config/users.xml"] == [
        "sha256(CLICKHOUSE_ADMIN_PASSWORD)"
    ]
    assert found["plugins/ralph/apps/auth.json"] == [
        "RALPH_ADMIN_HASHED_PASSWORD",
        "RALPH_LMS_HASHED_PASSWORD",
    ]


def test_no_file_readable_by_others_holds_a_secret_of_the_plugins_but_mounted_ones(
    root: TutorRoot,
) -> None:
    config = root.config()
    secrets = {
        key: value
        for key, value in secret_values(config).items()
        if key.startswith(PLUGIN_PREFIXES)
    }
    assert sorted(secrets) == [
        *(f"ASPECTS_CLICKHOUSE_{user}_PASSWORD" for user in ASPECTS_CLICKHOUSE_USERS),
        "CLICKHOUSE_ADMIN_PASSWORD",
        "RALPH_ADMIN_HASHED_PASSWORD",
        "RALPH_ADMIN_PASSWORD",
        "RALPH_LMS_HASHED_PASSWORD",
        "RALPH_LMS_PASSWORD",
        "SUPERSET_ADMIN_PASSWORD",
        "SUPERSET_DB_PASSWORD",
        "SUPERSET_GUEST_TOKEN_JWT_SECRET",
        "SUPERSET_LMS_PASSWORD",
        "SUPERSET_OAUTH2_CLIENT_SECRET",
        "SUPERSET_SECRET_KEY",
    ]
    readable = {
        path.relative_to(root.path / "env").as_posix(): found_in(text, secrets)
        for path, text in root.rendered_files().items()
        if path.stat().st_mode & 0o044
    }
    # Files that the LMS, the CMS and Ralph read in containers that run as another user.
    lms_settings = [
        "ASPECTS_CLICKHOUSE_CMS_PASSWORD",
        "RALPH_LMS_PASSWORD",
        "SUPERSET_LMS_PASSWORD",
        "SUPERSET_OAUTH2_CLIENT_SECRET",
    ]
    assert {path: keys for path, keys in readable.items() if keys} == {
        "apps/openedx/settings/lms/production.py": lms_settings,
        "apps/openedx/settings/lms/development.py": lms_settings,
        "apps/openedx/settings/cms/production.py": ["ASPECTS_CLICKHOUSE_CMS_PASSWORD"],
        "apps/openedx/settings/cms/development.py": ["ASPECTS_CLICKHOUSE_CMS_PASSWORD"],
        "plugins/ralph/apps/auth.json": [
            "RALPH_ADMIN_HASHED_PASSWORD",
            "RALPH_LMS_HASHED_PASSWORD",
        ],
    }
    # The compose files keep them (and Tutor's): docker compose reads them as their owner.
    holding = holders(root, secrets)
    assert {mode(root, path) for path in COMPOSE_FILES} == {0o600}
    assert set(holding["local/docker-compose.jobs.yml"]) >= {
        "CLICKHOUSE_ADMIN_PASSWORD",
        "RALPH_ADMIN_PASSWORD",
        "SUPERSET_ADMIN_PASSWORD",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD",
    }
    assert holding["local/docker-compose.yml"] == ["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"]
    root.compose_config(jobs=True)  # still valid for docker compose


def test_a_file_rendered_again_is_made_private_again(root: TutorRoot) -> None:
    env = root.path / "env"
    (env / "plugins/superset/apps/superset.env").unlink()  # rendered anew: Tutor's mode
    (env / "plugins/ralph/apps/ralph.env").chmod(0o644)  # changed by hand
    (env / "local/docker-compose.jobs.yml").unlink()
    root.run("config", "save")
    assert mode(root, "plugins/superset/apps/superset.env") == 0o600
    assert mode(root, "plugins/ralph/apps/ralph.env") == 0o600
    assert mode(root, "local/docker-compose.jobs.yml") == 0o600


@pytest.mark.parametrize("plugin", ["clickhouse", "ralph", "superset"])
def test_each_plugin_alone_makes_its_own_files_private(make_root, plugin: str) -> None:
    # With a MongoDB password, which Ralph's settings hold when it stores statements there.
    mongodb = {"MONGODB_USERNAME": "openedx", "MONGODB_PASSWORD": "a-mongodb-password"}
    alone = make_root([plugin], mongodb if plugin == "ralph" else None)
    found = holders(alone, all_secrets(alone))
    assert set(found) - set(EXCEPTIONS) == PRIVATE[plugin]
    assert {mode(alone, path) for path in PRIVATE[plugin]} == {0o600}


def test_a_bundle_folder_named_like_a_plugin_gets_only_the_bundle(root: TutorRoot) -> None:
    # The aspects bundle shares its name with the aspects plugin's templates folder (which holds
    # the job Secret): the Superset image's build context gets the bundle's files only.
    source = Path(__file__).resolve().parents[2] / "tutor-contrib-aspects/tutoraspects"
    bundle = source / "superset_assets" / "aspects"
    rendered = root.path / "env/plugins/superset/build/superset/assets/aspects"
    stale = rendered / "k8s" / "job-secret.yml"  # what an earlier version rendered there
    stale.parent.mkdir(exist_ok=True)
    stale.write_text("stale")
    root.run("config", "save")
    files = {p.relative_to(rendered) for p in rendered.rglob("*") if p.is_file()}
    # Partials are included by the bundle's templates; Tutor renders none of them on its own.
    templates = [p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file()]
    assert files == {path for path in templates if "partials" not in path.parts}
    assert {path.parts[0] for path in templates} - {path.parts[0] for path in files} == {"partials"}


def test_the_admin_password_reaches_only_the_init_job_that_creates_users(
    root: TutorRoot,
) -> None:
    config = root.config()
    password = config["CLICKHOUSE_ADMIN_PASSWORD"]
    admin = {"admin": password}
    digest = clickhouse_digests(config)["sha256(CLICKHOUSE_ADMIN_PASSWORD)"]

    # Rendered files: the clickhouse job's definitions only; the server gets a digest.
    assert set(holders(root, admin)) == {
        "local/docker-compose.jobs.yml",
        "plugins/clickhouse/k8s/admin-secret.yml",
    }
    assert set(holders(root, {"digest": digest})) == {"plugins/clickhouse/apps/config/users.xml"}

    # docker compose: only the clickhouse job's environment; no env_file holds it (above).
    services = root.compose_config(jobs=True)["services"]
    given = {
        name: sorted(
            key
            for key, value in (service.get("environment") or {}).items()
            if password in str(value)
        )
        for name, service in services.items()
    }
    assert {name: keys for name, keys in given.items() if keys} == {
        "clickhouse-job": ["CLICKHOUSE_ADMIN_PASSWORD"]
    }
    # The aspects job and the scheduled dbt runs log in as the migrations user.
    for name in ("aspects-job", "aspects-dbt"):
        assert services[name]["environment"]["ASPECTS_CLICKHOUSE_USER"] == "ch_migrations"

    # Kubernetes: one Secret holds it, and only the clickhouse Job reads that Secret.
    manifests = root.manifests()
    holding = set()
    for (kind, name), manifest in manifests.items():
        values = [*(manifest.get("stringData") or {}).values()]
        data = (manifest.get("data") or {}).values()
        values += [base64.b64decode(v).decode() if kind == "Secret" else v for v in data]
        if kind in ("Secret", "ConfigMap") and any(password in value for value in values):
            holding.add((kind, name))
    assert holding == {("Secret", "clickhouse-admin")}
    readers = {
        (kind, name)
        for (kind, name), manifest in manifests.items()
        if '"clickhouse-admin"' in json.dumps(manifest) and kind != "Secret"
    }
    assert readers == {("Job", "clickhouse-job")}
    assert not [
        key
        for key, m in manifests.items()
        if password in json.dumps(m) and key != ("Secret", "clickhouse-admin")
    ]

    # Scripts: no task holds it; the ClickHouse users are created (and their passwords set) by
    # the clickhouse task, the one that has it in its environment.
    tasks = root.init_scripts(None)
    assert not [service for service, script in tasks if password in script]
    creating = [service for service, script in tasks if "IDENTIFIED WITH sha256_hash" in script]
    assert creating == ["clickhouse"]
    # The LMS and CMS settings, Ralph's and Superset's: asserted by the file holders above.


# Jobs whose container cannot run on this machine: the docker stand-in skips them, and Tutor
# still prints their scripts. superset-job runs natively in tests/superset/test_native.py and
# test_import_assets.py, with the same check of their output.
SKIPPED_JOBS = "superset-job lms-job cms-job"
COMMANDS = [
    ("init", "--limit", "clickhouse"),
    ("init", "--limit", "aspects"),
    ("init", "--limit", "ralph"),
    ("init", "--limit", "superset"),
    ("alembic", "current"),
    ("dbt", "--version"),  # its runs: `dbt changed` in the aspects init task above
    ("load-xapi-test-data", "--statements", "20", "--seed", "424242", "--batch-size", "10"),
    ("delete-learner-data", "--actor-id", "2f1c9a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"),
    ("import-assets",),
    ("transform-tracking-logs", "--dry-run"),
    ("dump-data-to-clickhouse", "--service", "cms"),
    ("adopt-aspects-6", "--dry-run"),
    ("time-charts", "--runs", "1"),
]
# `do init-clickhouse` runs the clickhouse and aspects init tasks, run above.
SAME_AS_ABOVE = {"init-clickhouse"}


def do_commands(root: TutorRoot) -> set[str]:
    """The names of the `do` commands the four plugins add."""
    code = (
        "import sys\n"
        "from tutor import config, hooks\n"
        "hooks.Actions.CORE_READY.do()\n"
        "hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])\n"
        "config.load(sys.argv[1])  # loads the enabled plugins\n"
        "for plugin in sys.argv[2:]:\n"
        "    context = hooks.Contexts.app(plugin).name\n"
        "    for command in hooks.Filters.CLI_DO_COMMANDS.iterate_from_context(context):\n"
        "        print(command.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root.path), *ALL_PLUGINS],
        env=root.environ(),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(result.stdout.split())


@pytest.fixture(scope="module")
def full_root(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> TutorRoot:
    """The reliability stack's root (its ClickHouse, Ralph and their passwords) plus superset."""
    root = TutorRoot(tmp_path_factory.mktemp("secrets-root"))
    root.path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stack.root.path / "config.yml", root.path / "config.yml")
    return root.save(["superset"])


def test_no_secret_in_the_output_of_jobs_and_do_commands_nor_in_ralphs_log(
    stack: Stack, full_root: TutorRoot, tmp_path: Path
) -> None:
    config = full_root.config()
    secrets = secret_values(config)
    digests = clickhouse_digests(config)
    log = tmp_path / "jobs.jsonl"
    for command in COMMANDS:
        result = full_root.run(
            "local",
            "do",
            *command,
            check=False,
            # The stack's job files (the same), with dbt's parse cache of its first run.
            ASPECTS_JOB_DIR=stack.job_dir,
            TUTOR_DOCKER_SHIM_SKIP=SKIPPED_JOBS,
            TUTOR_DOCKER_SHIM_LOG=str(log),
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert found_in(output, secrets) == [], command
        # The clickhouse job's script holds the SQL that sets the users' passwords, as SHA-256
        # digests (Tutor prints it): never the admin's, and only for that job.
        printed = found_in(output, digests)
        if command in (("init", "--limit", "clickhouse"),):
            assert printed and "sha256(CLICKHOUSE_ADMIN_PASSWORD)" not in printed
        else:
            assert printed == [], command
    # Every `do` command of the plugins was run.
    assert do_commands(full_root) == {c[0] for c in COMMANDS if c[0] != "init"} | SAME_AS_ABOVE
    jobs = [json.loads(line) for line in log.read_text().splitlines()]
    ran = sorted({job["service"] for job in jobs if job["returncode"] == 0})
    skipped = sorted({job["service"] for job in jobs if job["returncode"] == "skipped"})
    assert ran == ["aspects-job", "clickhouse-job", "ralph-job"]
    assert skipped == ["cms-job", "lms-job", "superset-job"]
    # Ralph served the init job's logins and the test data.
    ralph_log = stack.ralph.log_path.read_text(encoding="utf-8")
    assert "/whoami" in ralph_log and "/xAPI/statements" in ralph_log
    assert found_in(ralph_log, {**secrets, **digests}) == []


def test_the_scheduled_dbt_runs_get_the_schema_owners_password_only(
    stack: Stack, full_root: TutorRoot
) -> None:
    config = full_root.config()
    secrets = secret_values(config)
    environment = full_root.compose_config()["services"]["aspects-dbt"]["environment"]
    given = {key: found_in(str(value), secrets) for key, value in environment.items()}
    assert {key: keys for key, keys in given.items() if keys} == {
        "ASPECTS_CLICKHOUSE_PASSWORD": ["ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"]
    }
    cronjob = full_root.manifests()[("CronJob", "aspects-dbt")]
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "envFrom" not in container and found_in(json.dumps(container), secrets) == []
    assert [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e] == [
        {"name": "aspects-job", "key": "ASPECTS_CLICKHOUSE_PASSWORD"}
    ]
    # What the service runs, with that environment and nothing else of the configuration.
    run = subprocess.run(
        ["sh", f"{stack.job_dir}/run_dbt.sh", "run"],
        env={"PATH": full_root.environ()["PATH"], "HOME": str(full_root.path), **environment},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and "Completed successfully" in run.stdout, run.stdout[-3000:]
    assert found_in(run.stdout + run.stderr, secrets) == []
