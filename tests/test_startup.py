"""
What every `tutor` call pays for the four plugins before it does anything: loading them reads
no asset bundle and imports no module that only one command uses (docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness.tutor import BIN, TutorRoot

PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
# Runs `tutor --help` in-process, then writes what it loaded to the file named by argv[1].
HELP = """
import json, sys
from tutor.commands.cli import main
output = sys.argv[1]
sys.argv = ["tutor", "--help"]
try:
    main()
except SystemExit:
    pass
from tutoraspects import grants
with open(output, "w") as file:
    json.dump({
        "modules": sorted(name for name in sys.modules if name.startswith("tutor")),
        "datasets_read": grants._dataset_template.cache_info().currsize,
    }, file)
"""


def test_help_loads_the_plugins_without_their_commands_modules_or_the_bundle(
    tmp_path: Path,
) -> None:
    root = TutorRoot(tmp_path / "root")
    root.path.mkdir()
    (root.path / "config.yml").write_text(json.dumps({"PLUGINS": PLUGINS}), encoding="utf-8")
    output = tmp_path / "loaded.json"
    subprocess.run(
        [str(BIN / "python"), "-c", HELP, str(output)],
        env=root.environ(),
        capture_output=True,
        check=True,
    )
    loaded = json.loads(output.read_text(encoding="utf-8"))
    assert {f"tutor{name}.plugin" for name in PLUGINS} <= set(loaded["modules"])
    # `tutor aspects check-superset-assets` alone needs the checker, `do delete-learner-data`
    # alone the job's module.
    assert "tutoraspects.assets_check" not in loaded["modules"]
    assert "tutoraspects.job.delete_learner_data" not in loaded["modules"]
    # The report user's grants and the RLS filters read the datasets when Tutor renders them.
    assert loaded["datasets_read"] == 0
