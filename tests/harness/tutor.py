"""
Real Tutor projects in temporary roots, for tests and demos.

Tutor keeps its hooks in process-global state, so every Tutor command runs in a
subprocess: each root sees exactly the plugins enabled in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
DOCKER_SHIM_DIR = Path(__file__).parent / "bin"
REPOSITORY = Path(__file__).resolve().parents[2]
# The tools that job images hold come from virtualenvs here: on every job's PATH...
JOB_TOOLS = [REPOSITORY / ".venv-dbt" / "bin"]
# ... or first on the PATH of the one job whose image holds them (its `python` included).
IMAGE_TOOLS = {
    "superset-job": [str(REPOSITORY / ".venv-superset" / "bin")],
    # The aspects job image's packages, as it installs them (requirements/dbt.txt).
    "aspects-job": [str(REPOSITORY / ".venv-dbt" / "bin")],
}


class TutorError(Exception):
    """A Tutor command failed; the message holds its output."""


class TutorRoot:
    """A Tutor project root: configure it, render it, read and validate what it renders."""

    def __init__(self, path: Path, plugins_root: Path | None = None) -> None:
        self.path = Path(path)
        # Where Tutor finds single-file plugins (tests use it for stand-in plugins).
        self.plugins_root = plugins_root

    def environ(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, TUTOR_ROOT=str(self.path), **extra)
        if self.plugins_root:
            env["TUTOR_PLUGINS_ROOT"] = str(self.plugins_root)
        # The harness' docker stand-in comes first: `tutor local do` runs jobs natively.
        env["PATH"] = os.pathsep.join(
            [str(DOCKER_SHIM_DIR), str(BIN), *map(str, JOB_TOOLS), env["PATH"]]
        )
        env["TUTOR_DOCKER_SHIM_IMAGE_PATHS"] = json.dumps(IMAGE_TOOLS)
        return env

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "tutor"), *args],
            env=self.environ(**env),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise TutorError(
                f"tutor {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def save(
        self,
        plugins: t.Iterable[str] = (),
        settings: t.Mapping[str, t.Any] | None = None,
    ) -> TutorRoot:
        """Enable `plugins` and run `tutor config save`, setting `settings` (YAML values)."""
        plugins = list(plugins)
        if plugins:
            self.run("plugins", "enable", *plugins)
        args = ["config", "save"]
        for key, value in (settings or {}).items():
            args += ["--set", f"{key}={json.dumps(value)}"]
        self.run(*args)
        return self

    def config(self) -> dict[str, t.Any]:
        """The saved configuration (config.yml), as Tutor wrote it."""
        return yaml.safe_load((self.path / "config.yml").read_text(encoding="utf-8"))

    def loaded_config(self) -> dict[str, t.Any]:
        """Every setting as Tutor renders templates with it: config.yml, then the defaults."""
        return self._loaded("print(json.dumps(config.load(sys.argv[1])))\n")

    def launch_urls(self, context: t.Literal["local", "dev"]) -> list[str]:
        """The URLs `tutor local launch` (or `tutor dev launch`) prints as the platform's."""
        code = (
            "loaded = config.load(sys.argv[1])\n"
            "scheme = '{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://'\n"
            "hosts = hooks.Filters.APP_PUBLIC_HOSTS.iterate(sys.argv[2])\n"
            "print(json.dumps([env.render_str(loaded, scheme + host) for host in hosts]))\n"
        )
        return self._loaded(code, context)

    def _loaded(self, code: str, *args: str) -> t.Any:
        """What code prints (JSON) once the root's project and configuration are loaded."""
        setup = (
            "import json, sys\n"
            "from tutor import config, env, hooks\n"
            "hooks.Actions.CORE_READY.do()\n"
            "hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", setup + code, str(self.path), *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def value(self, key: str) -> str:
        return self.run("config", "printvalue", key).stdout.strip()

    def env_file(self, *parts: str) -> str:
        return (self.path / "env" / Path(*parts)).read_text(encoding="utf-8")

    def compose_files(self, jobs: bool = False, dev: bool = False) -> list[Path]:
        """
        The compose files of `tutor local`, or of `tutor dev` (the local files, each followed
        by its dev counterpart), in the order Tutor gives them to docker compose.
        """
        env = self.path / "env"
        if dev:
            files = [env / "local" / "docker-compose.yml", env / "dev" / "docker-compose.yml"]
            if jobs:
                files += [env / "local" / "docker-compose.jobs.yml"]
                files += [env / "dev" / "docker-compose.jobs.yml"]
            return files
        names = ["docker-compose.yml", "docker-compose.prod.yml"]
        if jobs:
            names.append("docker-compose.jobs.yml")
        return [env / "local" / name for name in names]

    def compose_config(self, jobs: bool = False, dev: bool = False) -> dict[str, t.Any]:
        """Validate the compose files with docker-compose, then return the merged project."""
        project = "tutor_dev" if dev else "tutor_local"
        args = ["docker-compose", "--project-name", project]
        for path in self.compose_files(jobs, dev):
            args += ["-f", str(path)]
        subprocess.run([*args, "config", "-q"], check=True, capture_output=True, text=True)
        return yaml.safe_load(
            subprocess.run([*args, "config"], check=True, capture_output=True, text=True).stdout
        )

    def kustomize(self) -> list[dict[str, t.Any]]:
        """Build the Kubernetes manifests with `kubectl kustomize`, as `tutor k8s` applies them."""
        output = subprocess.run(
            [str(BIN / "kubectl"), "kustomize", str(self.path / "env")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [doc for doc in yaml.safe_load_all(output) if doc]

    def init_scripts(self, limit: str | None) -> list[tuple[str, str]]:
        """
        The init tasks of one plugin (or of all, in the order `tutor local do init` runs them),
        rendered exactly as Tutor renders them.
        """
        code = (
            "import json, sys\n"
            "from tutor import config, env, hooks\n"
            "hooks.Actions.CORE_READY.do()\n"
            "hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])\n"
            "conf = config.load(sys.argv[1])\n"
            "limit = hooks.Contexts.app(sys.argv[2]).name if sys.argv[2:] else None\n"
            "tasks = hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(limit)\n"
            "print(json.dumps([(s, env.render_str(conf, t)) for s, t in tasks]))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(self.path), *([limit] if limit else [])],
            env=self.environ(),
            capture_output=True,
            text=True,
            check=True,
        )
        return [tuple(task) for task in json.loads(result.stdout)]

    @property
    def aspects_job_dir(self) -> Path:
        """The aspects job image's build context, which the jobs run from on this machine."""
        return self.path / "env" / "plugins" / "aspects" / "build" / "aspects"

    def init_aspects(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`tutor local do init --limit aspects`: the aspects job's task (the LMS's is skipped)."""
        return self.run(
            "local",
            "do",
            "init",
            "--limit",
            "aspects",
            check=check,
            ASPECTS_JOB_DIR=str(self.aspects_job_dir),
            TUTOR_DOCKER_SHIM_SKIP="lms-job",
        )

    def save_invalid(self, key: str, value: t.Any) -> str:
        """
        Save a bad value that Tutor must refuse; return the error. config.yml must be left
        exactly as it was.
        """
        before = (self.path / "config.yml").read_bytes()
        try:
            self.save(settings={key: value})
        except TutorError as error:
            message = str(error)
        else:
            raise AssertionError(f"tutor config save accepted {key}={value!r}")
        assert (self.path / "config.yml").read_bytes() == before, f"{key} changed config.yml"
        return message

    def manifests(self) -> dict[tuple[str, str], dict[str, t.Any]]:
        """The built Kubernetes manifests, by (kind, name)."""
        return {(doc["kind"], doc["metadata"]["name"]): doc for doc in self.kustomize()}

    def rendered_files(self) -> dict[Path, str]:
        """Every file Tutor rendered in the environment, with its text."""
        return {
            path: path.read_text(encoding="utf-8")
            for path in (self.path / "env").rglob("*")
            if path.is_file()
        }


def check_posix_script(script: str, directory: Path) -> None:
    """Fail unless `script` is valid POSIX sh (dash's parser, then shellcheck)."""
    path = directory / "job.sh"
    path.write_text(script, encoding="utf-8")
    subprocess.run(["sh", "-n", str(path)], check=True)
    subprocess.run([str(BIN / "shellcheck"), "--shell=sh", str(path)], check=True)
