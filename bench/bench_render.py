"""
How much the four plugins add to `tutor config save`: the same command timed on a plain Tutor
root, on a root with clickhouse, ralph, superset and aspects enabled, and on a root with the
reference plugin, tutor-contrib-aspects 6.1.0 from PyPI (one plugin doing the same work), in
its own virtualenv (.venv-reference, with the Tutor it requires), alternately, in one run.
Then what they add to every `tutor` call: `tutor --help` (start-up only) on the plain and the
four-plugin roots, alternately. Prints the median times and their ratios (targets: at most 1.3
times plain Tutor, no slower than the reference; start-up at most 1.2 times plain Tutor).

    python bench/bench_render.py [--small] [--repeat N] [--profile]

--profile runs `tutor config save` on the four-plugin root once more, in-process under
cProfile (in a subprocess), and prints where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows, seconds  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
OURS = REPOSITORY / ".venv" / "bin"
REFERENCE = REPOSITORY / ".venv-reference" / "bin"
REFERENCE_REQUIREMENT = "tutor-contrib-aspects==6.1.0"
PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
# The reference depends on tutor-mfe, which its Tutor enables by default on a new root; ours
# has no MFE plugin installed. Every root lists its plugins, so that none is enabled unasked.
PLUGIN_SOURCES = "tutor-contrib-"

PROFILE = """
import cProfile, os, sys
from tutor.commands.cli import main
sys.argv = ["tutor", "config", "save"]
profiler = cProfile.Profile()
profiler.enable()
try:
    main()
except SystemExit:
    pass
profiler.disable()
profiler.dump_stats(os.environ["BENCH_PROFILE"])
"""


class Root:
    """A Tutor root driven by the tutor executable of one virtualenv."""

    def __init__(self, path: Path, bin_dir: Path, cache: Path) -> None:
        self.path, self.bin_dir = path, bin_dir
        # The plugins' compile cache (tutorcommon.compile_cache): a folder of the run's.
        self.environment = {"XDG_CACHE_HOME": str(cache)}

    def run(self, *args: str, **env: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / "tutor"), *args],
            env={**os.environ, **self.environment, "TUTOR_ROOT": str(self.path), **env},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tutor {' '.join(args)} in {self.path} failed:\n{done.stderr}")

    def prepare(self, plugins: list[str], save: bool = True) -> Root:
        """Enable exactly `plugins`; a first save (secrets, new files) unless not `save`."""
        self.path.mkdir(parents=True)
        (self.path / "config.yml").write_text(json.dumps({"PLUGINS": plugins}), encoding="utf-8")
        if save:
            self.run("config", "save")
        return self

    def timed(self, *args: str, **env: str) -> float:
        started = time.perf_counter()
        self.run(*args, **env)
        return time.perf_counter() - started


def reference_installed() -> bool:
    if not (REFERENCE / "tutor").exists():
        return False
    check = subprocess.run(
        [str(REFERENCE / "pip"), "show", "tutor-contrib-aspects"], capture_output=True, text=True
    )
    return "Version: 6.1.0" in check.stdout


def profiled_save(root: Root) -> dict:
    """cProfile statistics of one `tutor config save` on the root, run in-process."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "save.prof"
        subprocess.run(
            [str(root.bin_dir / "python"), "-c", PROFILE],
            env={
                **os.environ,
                **root.environment,
                "TUTOR_ROOT": str(root.path),
                "BENCH_PROFILE": str(output),
            },
            capture_output=True,
            check=True,
        )
        return pstats.Stats(str(output)).stats  # type: ignore[attr-defined]


def cumulative(stats: dict, function: str, filename: str) -> tuple[int, float]:
    """Calls and cumulative seconds of a function, over every file name ending so."""
    found = [
        (calls, total)
        for (file, _, name), (calls, _, _, total, _) in stats.items()
        if name == function and file.endswith(filename)
    ]
    return sum(c for c, _ in found), sum(t for _, t in found)


def called_by(stats: dict, function: str, filename: str, caller: str) -> tuple[int, float]:
    """Calls and cumulative seconds of the function of that name that `caller` calls."""
    found = [
        (calls, total)
        for (file, _, name), (calls, _, _, total, callers) in stats.items()
        if name == function
        and file.endswith(filename)
        and any(name == caller for (_, _, name) in callers)
    ]
    return sum(c for c, _ in found), sum(t for _, t in found)


def profile(plain: Root, suite: Root) -> str:
    """Where `tutor config save` with the plugins spends its time, for the table's notes."""
    stats, plain_stats = profiled_save(suite), profiled_save(plain)

    def total(of: dict) -> float:
        return max(total for (_, _, _, total, _) in of.values())

    def part(label: str, measured: tuple[tuple[int, float], tuple[int, float]]) -> str:
        (calls, spent), (plain_calls, plain_spent) = measured
        return (
            f"{label}: {calls} calls, {seconds(spent)} ({spent / total(stats):.0%}), against "
            f"{plain_calls}, {seconds(plain_spent)}"
        )

    def both(function: str, filename: str, caller: str = "") -> tuple:
        if caller:
            return tuple(called_by(of, function, filename, caller) for of in (stats, plain_stats))
        return tuple(cumulative(of, function, filename) for of in (stats, plain_stats))

    # The functions our plugins compile values with, and what they cost.
    [callers] = [
        callers
        for (file, _, name), (_, _, _, _, callers) in stats.items()
        if name == "from_string" and file.endswith("jinja2/environment.py")
    ]
    ours = sorted(
        (
            # Named by module and function: line numbers go stale with the next edit.
            (calls, spent, f"{Path(file).parent.name}.{Path(file).stem}.{function}")
            for (file, _, function), (calls, _, _, spent) in callers.items()
            if PLUGIN_SOURCES in file
        ),
        reverse=True,
    )
    return (
        f"What limits it: Tutor's rendering, which compiles every value, patch and template "
        f"anew and copies the whole configuration for each value it renders. Profile of one "
        f"save (in-process, under cProfile), four plugins ({seconds(total(stats))}) against "
        f"plain Tutor ({seconds(total(plain_stats))}), by Tutor function: "
        + "; ".join(
            [
                part(
                    "configuration values rendered (tutor.config.render_full, each value "
                    "through tutor.env.render_str)",
                    both("render_full", "tutor/config.py"),
                ),
                part(
                    "of which renderers built (tutor.env.Renderer, a deep copy of the "
                    "configuration each)",
                    both("deepcopy", "copy.py", "__init__"),
                ),
                part(
                    "templates read and compiled (jinja2 Environment.get_template)",
                    both("get_template", "jinja2/environment.py"),
                ),
                part("patches rendered (tutor.env.Renderer.patch)", both("patch", "tutor/env.py")),
                part(
                    "Jinja compiling in all (jinja2 Environment.compile)",
                    both("compile", "jinja2/environment.py"),
                ),
                part(
                    "plugins loaded (tutor.plugins.load_all)",
                    both("load_all", "plugins/__init__.py"),
                ),
            ]
        )
        + ". Our plugins' own functions compile "
        + ", ".join(f"{calls} values in {where} ({seconds(spent)})" for calls, spent, where in ours)
        + "."
    )


def compile_bytecode() -> None:
    """
    Our packages' bytecode, as pip writes it when it installs a wheel (Tutor and the reference
    have theirs): editable installs under PYTHONDONTWRITEBYTECODE would compile them anew at
    every `tutor` call. Templates are Jinja, not Python.
    """
    packages = [
        str(REPOSITORY / f"tutor-contrib-{name}" / f"tutor{name}") for name in [*PLUGINS, "common"]
    ]
    subprocess.run(
        [str(OURS / "python"), "-m", "compileall", "-q", "-x", "/templates/", *packages],
        check=True,
        capture_output=True,
    )


def compared(
    benchmark: str, baseline: tuple[str, float], ours: float, target: float, notes: str
) -> Row:
    """A row of the four plugins' median time against a baseline's, as a ratio."""
    ratio = ours / baseline[1]
    return Row(
        benchmark=benchmark,
        baseline=f"{baseline[0]} {seconds(baseline[1])}",
        ours=f"four plugins {seconds(ours)}",
        ratio=ratio,
        target=f"≤ {target:.2f}",
        met=ratio <= target,
        notes=notes,
    )


def measure(small: bool = False, repeat: int = 9, with_profile: bool = True) -> list[Row]:
    repeat = 1 if small else repeat
    compile_bytecode()
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        # The compile cache is warmed by the first saves; the cold runs get an empty one each.
        cache = base / "cache"
        # A smoke run times the first save itself: it only has to work.
        roots = {
            "plain": Root(base / "plain", OURS, cache).prepare([], save=not small),
            "suite": Root(base / "suite", OURS, cache).prepare(PLUGINS, save=not small),
        }
        if has_reference := reference_installed():
            roots["reference plain"] = Root(base / "ref-plain", REFERENCE, cache).prepare(
                [], save=not small
            )
            roots["reference"] = Root(base / "ref", REFERENCE, cache).prepare(
                ["aspects"], save=not small
            )
        times: dict[str, list[float]] = {name: [] for name in roots}
        times["cold"] = []
        for run in range(repeat):  # alternate, so that machine noise hits all alike
            for name, root in roots.items():
                times[name].append(root.timed("config", "save"))
            cold = str(base / f"cold-cache-{run}")
            times["cold"].append(roots["suite"].timed("config", "save", XDG_CACHE_HOME=cold))
        startup: dict[str, list[float]] = {"plain": [], "suite": []}
        for _ in range(repeat):
            for name in startup:
                startup[name].append(roots[name].timed("--help"))
        profile_notes = profile(roots["plain"], roots["suite"]) if with_profile else ""
    median = {name: statistics.median(values) for name, values in times.items()}
    started = {name: statistics.median(values) for name, values in startup.items()}
    rows = [
        compared(
            f"`tutor config save`, median of {repeat}",
            ("plain Tutor", median["plain"]),
            median["suite"],
            1.30,
            profile_notes,
        ),
        Row(
            benchmark=f"`tutor config save`, compile cache empty, median of {repeat}",
            baseline=f"plain Tutor {seconds(median['plain'])}",
            ours=f"four plugins {seconds(median['cold'])}",
            ratio=median["cold"] / median["plain"],
            target="",
            met=None,
            notes=(
                "The first command after the templates changed (an upgrade, a new plugin): "
                "every template, patch and value compiled, as Tutor alone does on every "
                "command. The row above is every later command."
            ),
        ),
        compared(
            f"`tutor --help` (start-up), median of {repeat}",
            ("plain Tutor", started["plain"]),
            started["suite"],
            1.20,
            "What every `tutor` command pays before it runs: Python, Tutor and the plugins "
            "loaded, the configuration read, the help printed. Our packages' bytecode is "
            "compiled first, as pip compiles it when it installs them.",
        ),
    ]
    if has_reference:
        rows.append(
            compared(
                f"`tutor config save` vs the reference, median of {repeat}",
                (REFERENCE_REQUIREMENT, median["reference"]),
                median["suite"],
                1.00,
                f"The reference in .venv-reference with the Tutor it requires, without the "
                f"mfe plugin it installs; its own ratio to its plain Tutor: "
                f"{median['reference'] / median['reference plain']:.2f}.",
            )
        )
    else:
        rows.append(
            Row(
                benchmark="`tutor config save` vs the reference",
                baseline=f"{REFERENCE_REQUIREMENT}: not installed",
                ours="",
                ratio=None,
                target="≤ 1.00",
                met=None,
                notes=(
                    f"{REFERENCE} is missing: `make bench` creates it "
                    "(pip install -r requirements/reference.txt)."
                ),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: one save each")
    parser.add_argument("--repeat", type=int, default=9, help="saves per root (median counts)")
    parser.add_argument("--profile", action="store_true", help="profile one save")
    args = parser.parse_args(argv)
    print_rows(measure(args.small, args.repeat, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
