"""
`tutor aspects bundle-superset-export`: a Superset export turned into bundle files. The round trip
through real Superset instances (export, bundle, check, import elsewhere) is in
test_superset_assets.py; here, what each file becomes, and bad input.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.harness.tutor import TutorError, TutorRoot
from tutoraspects import assets_export

DATABASES = {"DBT_PROFILE_TARGET_DATABASE": "reporting", "ASPECTS_XAPI_DATABASE": "xapi"}
SQL = (
    'SELECT s.course_key, {{ aspects_label("s.status") }} AS status\n'
    "FROM reporting.learner_course_status AS s JOIN xapi.xapi_events_all AS x USING (event_id)\n"
    "WHERE s.note = 'reporting.x' AND {% if 1 %}1{% endif %}"
)


def export_zip(path: Path, documents: dict[str, dict]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dashboard_export_20261208T000000/metadata.yaml", "version: 1.0.0\n")
        for name, document in documents.items():
            archive.writestr(f"dashboard_export_20261208T000000/{name}", yaml.safe_dump(document))
    return path


def rendered(text: str, settings: dict[str, str]) -> dict:
    """A bundle file as Tutor renders it (StrictUndefined, as Tutor's environment)."""
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text)
    return yaml.safe_load(template.render(settings))


def test_each_object_keeps_its_uuid_and_loses_credentials_and_database_names(
    tmp_path: Path,
) -> None:
    archive = export_zip(
        tmp_path / "export.zip",
        {
            "databases/ClickHouse.yaml": {
                "database_name": "ClickHouse",
                "sqlalchemy_uri": "clickhousedb://report:XXXXXXXXXX@clickhouse:8123/reporting",
                "uuid": "c9164a86-f45d-5cda-aa16-107255f7bf19",
            },
            "datasets/ClickHouse/status.yaml": {
                "table_name": "status",
                "schema": "reporting",
                "sql": SQL,
                "uuid": "11111111-0000-0000-0000-000000000000",
            },
        },
    )
    with zipfile.ZipFile(archive) as opened:
        files = assets_export.bundle_files(opened, DATABASES)
    assert sorted(files) == [
        "databases/clickhouse.yaml",
        "datasets/status_11111111.yaml",
        "metadata.yaml",
    ]
    settings = {"DBT_PROFILE_TARGET_DATABASE": "reports", "ASPECTS_XAPI_DATABASE": "statements"}
    database = rendered(files["databases/clickhouse.yaml"], settings)
    assert database["sqlalchemy_uri"] == "clickhousedb://clickhouse:8123/reporting"
    assert database["uuid"] == "c9164a86-f45d-5cda-aa16-107255f7bf19"
    dataset = rendered(files["datasets/status_11111111.yaml"], settings)
    assert dataset["schema"] == "reports"
    # The deployment's database names follow the settings; Superset's Jinja and a string
    # that only looks like a name are kept.
    assert dataset["sql"] == (
        SQL.replace("FROM reporting.", "FROM reports.").replace("JOIN xapi.", "JOIN statements.")
    )
    assert "'reporting.x'" in dataset["sql"]


def test_the_command_writes_the_files_and_replaces_a_renamed_object(tmp_path: Path) -> None:
    root = TutorRoot(tmp_path / "root").save(["clickhouse", "ralph", "superset", "aspects"])
    chart = {"slice_name": "Old name", "uuid": "22222222-0000-0000-0000-000000000000"}
    bundle = tmp_path / "bundle"
    for name in ("Old name", "New name"):
        archive = export_zip(
            tmp_path / "export.zip", {"charts/c.yaml": {**chart, "slice_name": name}}
        )
        output = root.run("aspects", "bundle-superset-export", str(archive), str(bundle)).stdout
        assert f"2 file(s) of {archive} written to {bundle}" in output
    assert sorted(p.name for p in (bundle / "charts").iterdir()) == ["new_name_22222222.yaml"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "File is not a zip file"),
        ({"charts/c.yaml": {"slice_name": "no uuid"}}, "charts/c.yaml: not a Superset object"),
        ({"readme.yaml": {"uuid": "x"}}, "not a Superset export"),
    ],
)
def test_what_is_not_a_superset_export_is_refused_by_name(
    tmp_path: Path, content: bytes | dict, message: str
) -> None:
    archive = tmp_path / "export.zip"
    if isinstance(content, bytes):
        archive.write_bytes(content)
    else:
        export_zip(archive, content)
    root = TutorRoot(tmp_path / "root").save(["clickhouse", "ralph", "superset", "aspects"])
    with pytest.raises(TutorError) as refused:
        root.run("aspects", "bundle-superset-export", str(archive), str(tmp_path / "bundle"))
    assert message in str(refused.value) and str(archive) in str(refused.value)
    assert not (tmp_path / "bundle").exists()
