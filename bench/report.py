"""The one table every benchmark reports into, and the description of the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata

HEADER = "| Benchmark | Baseline | Ours | Ratio | Target | Met |\n|---|---|---|---|---|---|"


@dataclass
class Row:
    benchmark: str
    baseline: str
    ours: str
    ratio: float | None  # what the target is stated in; None when there is no ratio
    target: str
    met: bool | None  # None: informative, no target
    notes: str = ""  # printed under the table

    def markdown(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        met = {True: "yes", False: "**no**", None: ""}[self.met]
        cells = [self.benchmark, self.baseline, self.ours, ratio, self.target, met]
        return "| " + " | ".join(cells) + " |"


def table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *(row.markdown() for row in rows)])


def print_rows(rows: list[Row]) -> None:
    print(table(rows))
    for row in rows:
        if row.notes:
            print(f"\n{row.benchmark}: {row.notes}")


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python and chDB version of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        chdb = metadata.version("chdb")
    except metadata.PackageNotFoundError:
        chdb = "not installed"
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "RAM": f"{memory / 2**30:.0f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
        "chDB": chdb,
    }


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def rate(value: float) -> str:
    return f"{value:,.0f}/s"
