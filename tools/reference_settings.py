"""
The settings and patch names of the reference plugin, read from its released wheel.

The reference is tutor-contrib-aspects 6.1.0 (one plugin that held what the four plugins of this
repository now hold). This downloads its wheel with pip (no dependencies), loads its plugin
module the way Tutor loads a plugin (imported inside the plugin's hook context) and lists what
it registered in Tutor's CONFIG_DEFAULTS, CONFIG_UNIQUE and CONFIG_OVERRIDES filters. It also
lists the patch names that the reference's templates render, the extension points that the
operators' own plugins may fill.

The result is written to tutoraspects/reference-6.1.0.json in the aspects plugin, which reads
it beside the table of tutoraspects/reference.py (the tests check that both list the same
settings and patches). With --check, nothing is written and the command fails when
the committed file differs from what the wheel says.

    python tools/reference_settings.py [--check] [--wheel PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

from tutoraspects.reference import RANDOM_MARKER

REPOSITORY = Path(__file__).resolve().parent.parent
REQUIREMENT = "tutor-contrib-aspects==6.1.0"
SNAPSHOT = REPOSITORY / "tutor-contrib-aspects" / "tutoraspects" / "reference-6.1.0.json"
# A value the plugin draws at import time (a random password, its hash) differs between two
# imports: it is recorded as this marker.
RANDOM = RANDOM_MARKER

# Run in a fresh interpreter, with the unpacked wheel first on sys.path so that its
# `tutoraspects` is the one imported. Only the configuration is read, so two modules that need
# packages Tutor does not install are replaced: bcrypt (it hashes the random Ralph passwords,
# whose values are recorded as random anyway) and the plugin's command module (click commands,
# which need sqlfmt and ruamel, and register no setting).
LOADER = textwrap.dedent(
    """
    import hashlib, importlib, json, sys, types

    sys.path.insert(0, sys.argv[1])
    bcrypt = types.ModuleType("bcrypt")
    bcrypt.gensalt = lambda: b""
    bcrypt.hashpw = lambda password, salt: hashlib.sha256(password).hexdigest().encode()
    commands = types.ModuleType("tutoraspects.commands_v1")
    commands.COMMANDS, commands.DO_COMMANDS = [], []
    sys.modules.update({"bcrypt": bcrypt, "tutoraspects.commands_v1": commands})

    # Tutor's own modules register core settings when first imported: import them outside the
    # plugin's context, as Tutor has when it loads plugins.
    from tutor import config, env, hooks, plugins

    loads = []
    for attempt in ("first", "second"):
        context = hooks.Contexts.app(f"reference-{attempt}")
        with context.enter():
            module = importlib.import_module("tutoraspects.plugin")
            if attempt == "second":
                importlib.reload(module)
        loads.append({
            kind: list(getattr(hooks.Filters, f"CONFIG_{kind.upper()}").iterate_from_context(
                context.name
            ))
            for kind in ("defaults", "unique", "overrides")
        })
    print(json.dumps(loads))
    """
)


def download_wheel(directory: Path) -> Path:
    """The reference's wheel, downloaded by pip into `directory`."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        + ["--dest", str(directory), REQUIREMENT],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"pip could not download {REQUIREMENT}:\n{result.stderr}")
    return next(directory.glob("*.whl"))


def read_wheel(wheel: Path) -> dict:
    """Settings (name, kind, default) and patch names of the reference, as Tutor sees them."""
    with tempfile.TemporaryDirectory() as unpacked:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        result = subprocess.run(
            [sys.executable, "-I", "-c", LOADER, unpacked],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            sys.exit(f"Could not load the reference plugin from {wheel.name}:\n{result.stderr}")
        first, second = json.loads(result.stdout)
        patches = rendered_patches(Path(unpacked) / "tutoraspects")
    settings = []
    for kind in ("defaults", "unique", "overrides"):
        for (name, value), (_, again) in zip(first[kind], second[kind], strict=True):
            settings.append(
                {"name": name, "kind": kind, "default": value if value == again else RANDOM}
            )
    names = [setting["name"] for setting in settings]
    if len(names) != len(set(names)):
        sys.exit(f"{wheel.name} registers a setting twice")
    return {"package": REQUIREMENT, "settings": settings, "patches": patches}


def rendered_patches(package: Path) -> list[str]:
    """
    The patch names the reference's templates render with {{ patch("…") }} and that Tutor's own
    templates do not: extension points of the reference, which other plugins may fill.
    """
    pattern = re.compile(r"""patch\(\s*["']([a-z0-9-]+)["']""")
    rendered = {
        name
        for path in (package / "templates").rglob("*")
        if path.is_file()
        for name in pattern.findall(path.read_text(encoding="utf-8", errors="replace"))
    }
    return sorted(rendered - tutor_patches(pattern))


def tutor_patches(pattern: re.Pattern[str]) -> set[str]:
    """The patch names that Tutor's own templates render."""
    from tutor import env

    root = Path(env.TEMPLATES_ROOT)
    return {
        name
        for path in root.rglob("*")
        if path.is_file()
        for name in pattern.findall(path.read_text(encoding="utf-8", errors="replace"))
    }


def render(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the snapshot is stale")
    parser.add_argument("--wheel", type=Path, help="the reference's wheel, instead of pip download")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as downloads:
        wheel = options.wheel or download_wheel(Path(downloads))
        text = render(read_wheel(wheel))
    if options.check:
        if not SNAPSHOT.exists() or SNAPSHOT.read_text(encoding="utf-8") != text:
            print(f"Stale, run tools/reference_settings.py: {SNAPSHOT}", file=sys.stderr)
            return 1
        return 0
    SNAPSHOT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
