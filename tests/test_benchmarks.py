"""
Every benchmark runs in its small size, so that none can rot (no timing is asserted): all of
them through bench/run_all.py --small, which shares one stack between the data benchmarks,
and each module's command line.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
BENCH = REPOSITORY / "bench"
MODULES = [
    "bench_render.py",
    "bench_ingest.py",
    "bench_queries.py",
    "bench_charts.py",
    "bench_reinit.py",
    "bench_storage.py",
    "bench_xapi_generator.py",
]
# The first cell of each row of the table, in order.
ROWS = [
    r"`tutor config save`, median of 1",
    r"`tutor config save`, compile cache empty, median of 1",
    r"`tutor --help` \(start-up\), median of 1",
    r"`tutor config save` vs the reference.*",
    r"Ingest through Ralph, statements/s",
    r"Dashboard queries on 20,000 statements, p50",
    r"Dashboard queries on 20,000 statements, p95",
    r"Every dashboard chart via Superset on 20,\d{3} statements, p95 of the slowest",
    r"Dashboard or tab opened via Superset on 20,\d{3} statements, p95 of the slowest",
    r"Whole dashboard, all tabs at once via Superset on 20,\d{3} statements, p95 of the slowest",
    r"Whole dashboard, all tabs one after the other via Superset on 20,\d{3} statements, p95 .*",
    r"Init again with nothing changed",
    r"Storage of the raw table, .*",
    r"Storage of the reporting models, .*",
    r"Test data generation, statements/s \(one core\)",
]


# Every benchmark at its small size, over a minute: `make test-all`.
@pytest.mark.slow
def test_every_benchmark_fills_its_row_of_the_table(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    result = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--small", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = output.read_text()
    rows = [line for line in document.splitlines() if line.startswith("| ")][3:]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert len(cells) == len(ROWS)
    for row, pattern in zip(cells, ROWS, strict=True):
        assert re.fullmatch(pattern, row[0]), row
        if row[3]:  # the ratio, when the row has one
            assert float(row[3]) > 0, row
    assert "chDB" in document and "Python" in document
    assert "0 objects rebuilt" in document
    assert "POST /xAPI/statements handler" in document  # Ralph was profiled
    assert "async-insert buffer timeouts at 5 ms" in document  # and tried with them shorter


@pytest.mark.parametrize("module", MODULES)
def test_each_benchmark_has_its_command_line(module: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / module), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--small" in result.stdout
