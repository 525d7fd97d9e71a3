"""Each benchmark runs in its small size, so that it cannot rot (no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def test_render_benchmark_prints_its_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "bench_render.py"), "--small"],
        capture_output=True,
        text=True,
        check=True,
    )
    [row] = [line for line in result.stdout.splitlines() if line.startswith("| `tutor config")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1].startswith("plain Tutor ") and cells[2].startswith("four plugins ")
    assert float(cells[3]) > 0


def test_generator_benchmark_prints_its_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "bench_xapi_generator.py"), "--small"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "statements/s" in result.stdout
    assert "ratio fast/baseline" in result.stdout
