"""
A Superset export (the zip that Superset's export of dashboards, charts or datasets gives) turned
into the files of an asset bundle, so that what was edited in Superset's UI can be committed and
imported again by `tutor local do import-assets` (a plugin adds the folder to
tutorsuperset.hooks.ASSETS). The bundle is a Tutor template:

- every object keeps its uuid, so that each import updates the same one;
- a database keeps its name and loses its credentials: the superset plugin gives a database of
  that name the URI of its DATABASES filter at import;
- the names of the deployment's ClickHouse databases (in datasets' schema and SQL) become the
  settings that hold them, so that the bundle works with other names;
- text that Tutor would read as a template (Superset's own Jinja in SQL) is kept as it is.

Files are named after their objects and written in a fixed form: exporting the same objects
again gives the same files.
"""

from __future__ import annotations

import json
import re
import typing as t
import urllib.parse
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import yaml

KINDS = ("databases", "datasets", "charts", "dashboards")
# Settings whose values name ClickHouse databases that datasets read.
DATABASE_SETTINGS = (
    "DBT_PROFILE_TARGET_DATABASE",
    "ASPECTS_XAPI_DATABASE",
    "ASPECTS_EVENT_SINK_DATABASE",
)
METADATA = {"version": "1.0.0", "type": "assets", "timestamp": "2026-01-01T00:00:00+00:00"}


class ExportError(ValueError):
    """The file is not a Superset export."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unnamed"


def template_safe(text: str) -> str:
    """
    `text` as a Tutor template that renders to it: each Jinja delimiter in a raw block (which
    holds no quote or backslash for YAML to write otherwise).
    """
    return re.sub(r"(\{\{|\{%|\{#)", r"{% raw %}\1{% endraw %}", text)


def without_credentials(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def with_settings(text: str, databases: Mapping[str, str]) -> str:
    """Qualified names of the deployment's databases (`reporting.table`) as their settings."""
    for setting, name in databases.items():
        text = re.sub(rf"(?<![\w.`\"']){re.escape(name)}(?=\.)", "{{ " + setting + " }}", text)
    return text


def templated(value: t.Any) -> t.Any:
    """Every string of a document made template-safe."""
    if isinstance(value, str):
        return template_safe(value)
    if isinstance(value, list):
        return [templated(item) for item in value]
    if isinstance(value, dict):
        return {key: templated(item) for key, item in value.items()}
    return value


def by_uuid(chart: dict[str, t.Any]) -> None:
    """
    A chart that names its dataset by uuid, as a bundle must: the export names it by the
    exporting instance's id in the query context (and the chart by its id in the params).
    """
    dataset = chart["dataset_uuid"]
    params = chart.get("params")
    if isinstance(params, dict):
        params.pop("slice_id", None)
        params["datasource"] = f"{dataset}__table"
    if not chart.get("query_context"):
        return
    try:
        # Imported here: only exports with charts need the generator.
        from tutoraspects.query_context import (  # noqa: PLC0415
            QueryContextError,
            query_context_text,
        )

        chart["query_context"] = query_context_text(params or {}, dataset)
    except (QueryContextError, KeyError, TypeError):
        # A chart the generator does not know: its own query context, with the uuid.
        context = json.loads(chart["query_context"])
        context["datasource"] = {"id": dataset, "type": "table"}
        if isinstance(context.get("form_data"), dict):
            context["form_data"].pop("slice_id", None)
            context["form_data"]["datasource"] = f"{dataset}__table"
        chart["query_context"] = json.dumps(context, ensure_ascii=False)


def bundle_document(kind: str, document: dict[str, t.Any], databases: Mapping[str, str]) -> str:
    """One exported object as a bundle file's text."""
    if kind == "charts" and document.get("dataset_uuid"):
        by_uuid(document)
    document = templated(document)
    if kind == "databases":
        document["sqlalchemy_uri"] = without_credentials(document["sqlalchemy_uri"])
        document.pop("password", None)
    if kind == "datasets":
        names = {name: setting for setting, name in databases.items()}
        if document.get("schema") in names:
            document["schema"] = "{{ " + names[document["schema"]] + " }}"
        if document.get("sql"):
            document["sql"] = with_settings(document["sql"], databases)
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf")
    )


class _Dumper(yaml.SafeDumper):
    """YAML with text of several lines (SQL) as literal blocks, as people write it."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def file_name(kind: str, document: dict[str, t.Any]) -> str:
    if kind == "databases":
        return f"databases/{slug(document['database_name'])}.yaml"
    if kind == "datasets":
        return (
            f"datasets/{slug(document.get('table_name') or 'dataset')}_{document['uuid'][:8]}.yaml"
        )
    if kind == "charts":
        return f"charts/{slug(document.get('slice_name') or 'chart')}_{document['uuid'][:8]}.yaml"
    return f"dashboards/{slug(document.get('slug') or document.get('dashboard_title') or '')}.yaml"


def bundle_files(export: zipfile.ZipFile, databases: Mapping[str, str]) -> dict[str, str]:
    """
    The bundle's files (path -> text) of a Superset export; `databases`: setting -> the name of
    the ClickHouse database it holds in the deployment the export comes from.
    """
    files = {"metadata.yaml": yaml.safe_dump(METADATA, sort_keys=False)}
    for member in sorted(export.namelist()):
        parts = PurePosixPath(member).parts
        if len(parts) < 3 or parts[1] not in KINDS or not member.endswith(".yaml"):
            continue
        kind = parts[1]
        try:
            document = yaml.safe_load(export.read(member))
        except yaml.YAMLError as error:
            raise ExportError(f"{member}: not YAML: {error}") from error
        if not isinstance(document, dict) or not document.get("uuid"):
            raise ExportError(f"{member}: not a Superset object (it has no uuid)")
        path = file_name(kind, document)
        if path in files:
            raise ExportError(f"{member}: two objects would be written to {path}")
        files[path] = bundle_document(kind, document, databases)
    if len(files) == 1:
        raise ExportError("no database, dataset, chart or dashboard in it: not a Superset export")
    return files


def uuid_of(text: str) -> str | None:
    """The uuid of a bundle file's object, if it is one."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return document.get("uuid") if isinstance(document, dict) else None


def write_bundle(bundle: Path, files: Mapping[str, str]) -> int:
    """
    Write the files into `bundle`; a file there holding one of their objects under another
    name (a chart renamed since) is removed. How many files were written.
    """
    uuids = {uuid_of(text): path for path, text in files.items()}
    for kind in KINDS:
        for existing in sorted((bundle / kind).glob("**/*.yaml")):
            found = uuid_of(existing.read_text(encoding="utf-8"))
            if found in uuids and existing.relative_to(bundle).as_posix() != uuids[found]:
                existing.unlink()
    for path, text in files.items():
        target = bundle / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return len(files)
