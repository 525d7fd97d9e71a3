"""
The Aspects dashboards in any language of SUPERSET_DASHBOARD_LOCALES, rendered by real Tutor:
the bundled catalogs (es, fr), a locale with no catalog (English titles and a warning on
`tutor config save`, never a refusal) and a catalog that another plugin adds through
tutoraspects.hooks.DASHBOARD_CATALOGS.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.harness.tutor import TutorRoot
from tutoraspects import assets_check, superset
from tutoraspects.embedding import embedding_uuid
from tutoraspects.superset_value_labels import ASPECTS_ENGLISH_LABELS, aspects_labelled

PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
DASHBOARDS = Path("env", "plugins", "superset", "build", "superset", "assets", "aspects")
JOB_FOLDER = Path(__file__).resolve().parents[2] / "tutor-contrib-aspects/tutoraspects/job"
DBT_MODELS = JOB_FOLDER / "dbt" / "models"

# A German catalog as openedx-translations ships them: under the source language's key, with
# an HTML entity, a text YAML reads as null and an untranslated (empty) one.
GERMAN = """\
en:
  Course overview: Kursübersicht
  Learners who passed: Bestandene Lernende
  Course: Kurs
  Operator view: Ansicht &quot;Betrieb&quot;
  Weekly active learners: ''
  null: null
"""
# A correction of one string of the bundled Spanish catalog, and a Latin American Spanish one.
SPANISH = "en:\n  Learners: Alumnos\n"
LATIN_AMERICAN = "en:\n  Learners: Aprendices\n"
PLUGIN = """\
from tutoraspects.hooks import DASHBOARD_CATALOGS

DASHBOARD_CATALOGS.add_items(
    [("de", {german!r}), ("es", {spanish!r}), ("es-419", {latin_american!r})]
)
"""


def dashboards(root: TutorRoot) -> dict[str, dict[str, t.Any]]:
    """Every dashboard of the rendered bundle, by slug (one per language)."""
    found = {}
    for path in sorted((root.path / DASHBOARDS / "dashboards").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found[document["slug"]] = document
    return found


def chart_titles(dashboard: dict[str, t.Any]) -> dict[str, str]:
    """English chart title -> the title the dashboard shows."""
    return {
        node["meta"]["sliceName"]: node["meta"]["sliceNameOverride"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }


def tab_charts(position: dict[str, t.Any]) -> dict[str, list[str]]:
    """The tabs of a dashboard's position: each tab's title -> its charts' uuids, in order."""

    def charts(node_id: str) -> list[str]:
        node = position[node_id]
        if node["type"] == "CHART":
            return [node["meta"]["uuid"]]
        return [uuid for child in node.get("children", []) for uuid in charts(child)]

    return {
        node["meta"]["text"]: charts(node_id)
        for node_id, node in position.items()
        if isinstance(node, dict) and node.get("type") == "TAB"
    }


def expected_tab_charts(slug: str, locale: str) -> dict[str, list[str]]:
    """What tab_charts should find in a dashboard's copy in `locale`, from superset.py's layout."""
    return {
        superset.translate(title, locale): [
            superset.asset_uuid("chart", chart) for row in rows for chart in row
        ]
        for title, rows in superset.dashboard_tabs(slug).items()
        if title is not None
    }


def filter_names(dashboard: dict[str, t.Any]) -> list[str]:
    return [item["name"] for item in dashboard["metadata"]["native_filter_configuration"]]


def embeddings(root: TutorRoot) -> list[list[t.Any]]:
    sync = root.env_file("plugins", "superset", "apps", "pythonpath", "superset_sync.py")
    [line] = [line for line in sync.splitlines() if line.startswith("EMBEDDED_DASHBOARDS = ")]
    return json.loads(json.loads(line.split("json.loads(", 1)[1].rsplit(")", 1)[0]))


def save(root: TutorRoot, locales: list[str]) -> str:
    """`tutor config save` with these locales: what it printed."""
    result = root.run(
        "config", "save", "--set", f"SUPERSET_DASHBOARD_LOCALES={json.dumps(locales)}"
    )
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def default_root(make_root) -> TutorRoot:
    return make_root(PLUGINS)


def test_spanish_and_french_come_from_the_bundled_catalogs(default_root: TutorRoot) -> None:
    found = dashboards(default_root)
    assert len(found) == 3 * len(superset.DASHBOARDS)
    overview, es, fr = (found[f"course-overview{s}"] for s in ("", "-es", "-fr"))
    assert [d["dashboard_title"] for d in (overview, es, fr)] == [
        "Course overview",
        "Resumen del curso",
        "Vue d'ensemble du cours",
    ]
    assert chart_titles(es)["Learners who passed"] == "Estudiantes aprobados"
    assert chart_titles(fr)["Average course grade (%)"] == "Note moyenne dans le cours (%)"
    assert filter_names(fr)[:2] == ["Organisation", "Cours"]
    # Each copy shows its catalog's translation of each string.
    for locale in ("es", "fr"):
        catalog = superset.read_catalog(superset.CATALOGS / locale / "locale.yaml")
        for slug, (title, _) in superset.DASHBOARDS.items():
            dashboard = found[f"{slug}-{locale}"]
            assert dashboard["dashboard_title"] == catalog[title]
            assert dashboard["uuid"] == superset.translated_uuid(slug, locale)
            for english, shown in chart_titles(dashboard).items():
                assert shown == catalog.get(english, english)
            english_filters = filter_names(found[slug])
            assert filter_names(dashboard) == [catalog.get(n, n) for n in english_filters]
            assert tab_charts(dashboard["position"]) == expected_tab_charts(slug, locale)
    # The course dashboard is in tabs, each tab's title translated.
    tabs = tab_charts(es["position"])
    assert "De un vistazo" in tabs
    assert len(tabs) == len(superset.COURSE_TABS)


def test_a_locale_without_catalog_gets_english_dashboards_and_a_warning(make_root) -> None:
    root = make_root(PLUGINS)
    output = save(root, ["en", "pt_BR"])
    assert "SUPERSET_DASHBOARD_LOCALES: no dashboard catalog for pt_BR" in output
    assert root.config()["SUPERSET_DASHBOARD_LOCALES"] == ["en", "pt_BR"]
    found = dashboards(root)
    assert set(found) == {
        slug + suffix for slug in superset.DASHBOARDS for suffix in ("", "-pt_BR")
    }
    for slug, (title, _) in superset.DASHBOARDS.items():
        english, portuguese = found[slug], found[f"{slug}-pt_BR"]
        assert portuguese["dashboard_title"] == title
        assert portuguese["uuid"] == superset.translated_uuid(slug, "pt_BR") != english["uuid"]
        assert chart_titles(portuguese) == chart_titles(english)
        assert all(text == shown for text, shown in chart_titles(portuguese).items())
        assert filter_names(portuguese) == filter_names(english)
    assert "Course" in filter_names(found["course-overview-pt_BR"])
    # Each copy is embedded for the LMS, by the uuid platform-plugin-aspects derives.
    embedded = {(item[0], item[1]) for item in embeddings(root)}
    for slug in superset.INSTRUCTOR_DASHBOARDS:
        copy = (superset.translated_uuid(slug, "pt_BR"), embedding_uuid(slug, "pt_BR"))
        assert copy in embedded
        assert (superset.translated_uuid(slug, "es"), embedding_uuid(slug, "es")) not in embedded
    lms = root.env_file("apps", "openedx", "settings", "lms", "production.py")
    assert 'SUPERSET_DASHBOARD_LOCALES = ["en", "pt_BR"]' in lms
    # The bundle, two languages per file, passes the assets check.
    report = assets_check.check_bundle(
        root.path / DASHBOARDS,
        [assets_check.dbt_schema(DBT_MODELS, "reporting")],
        assets_check.chdb_parser(),
    )
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.counts["dashboards"] == 2 * len(superset.DASHBOARDS)
    # English only: one dashboard per file, and nothing to warn about.
    assert "no dashboard catalog" not in save(root, ["en"])
    assert len(dashboards(root)) == len(superset.DASHBOARDS)


def test_a_regional_locale_without_catalog_gets_its_language_s(default_root: TutorRoot) -> None:
    output = save(default_root, ["en", "es_419", "fr-CA"])
    assert "no dashboard catalog" not in output
    found = dashboards(default_root)
    for locale, language in (("es_419", "es"), ("fr-CA", "fr")):
        catalog = superset.read_catalog(superset.CATALOGS / language / "locale.yaml")
        overview = found[f"course-overview-{locale}"]
        assert overview["dashboard_title"] == catalog["Course overview"]
        assert overview["uuid"] == superset.translated_uuid("course-overview", locale)
        english = chart_titles(found["course-overview"])
        assert chart_titles(overview) == {text: catalog.get(text, text) for text in english}


def test_a_plugin_adds_a_catalog_through_the_extension_point(tmp_path: Path) -> None:
    catalogs = {}
    for name, text in (
        ("german", GERMAN),
        ("spanish", SPANISH),
        ("latin_american", LATIN_AMERICAN),
    ):
        catalogs[name] = tmp_path / f"{name}.yaml"
        catalogs[name].write_text(text, encoding="utf-8")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "germandashboards.py").write_text(
        PLUGIN.format(**{name: str(path) for name, path in catalogs.items()}), encoding="utf-8"
    )
    root = TutorRoot(tmp_path / "root", plugins_root=plugins)
    root.run("plugins", "enable", *PLUGINS, "germandashboards")
    output = save(root, ["en", "es", "de", "es_419"])
    assert "no dashboard catalog" not in output
    found = dashboards(root)
    overview = found["course-overview-de"]
    assert overview["dashboard_title"] == "Kursübersicht"
    assert chart_titles(overview)["Learners who passed"] == "Bestandene Lernende"
    # Left untranslated (empty) or absent from the catalog: English.
    assert chart_titles(overview)["Weekly active learners"] == "Weekly active learners"
    assert chart_titles(overview)["Learners by enrollment status"] == (
        "Learners by enrollment status"
    )
    assert filter_names(overview) == [
        "Kurs" if name == "Course" else name for name in filter_names(found["course-overview"])
    ]
    assert "Kurs" in filter_names(overview)
    assert found["operator-de"]["dashboard_title"] == 'Ansicht "Betrieb"'
    assert overview["uuid"] == superset.translated_uuid("course-overview", "de")
    # The plugin's Spanish string wins over the bundled one; the rest of Spanish is kept.
    learners = found["learners-es"]
    assert chart_titles(learners)["Learners"] == "Alumnos"
    assert learners["dashboard_title"] == "Estudiantes"
    assert found["course-overview-es"]["dashboard_title"] == "Resumen del curso"
    # A regional catalog wins over its language's; what it leaves out comes from that one.
    assert chart_titles(found["learners-es_419"])["Learners"] == "Aprendices"
    assert found["learners-es_419"]["dashboard_title"] == "Estudiantes"
    # Without the plugin, German has no catalog: English, with the warning.
    root.run("plugins", "disable", "germandashboards")
    assert "no dashboard catalog for de" in save(root, ["en", "es", "de"])
    assert dashboards(root)["course-overview-de"]["dashboard_title"] == "Course overview"
    assert chart_titles(dashboards(root)["learners-es"])["Learners"] == "Estudiantes"


def test_the_bundled_catalogs_translate_every_string_the_dashboards_show() -> None:
    shown = {title for title, _ in superset.DASHBOARDS.values()}
    shown |= {tab for slug in superset.DASHBOARDS for tab in superset.dashboard_tabs(slug) if tab}
    shown |= set(superset.CHART_TITLES.values())
    shown |= {native_filter["name"] for native_filter in superset.native_filters("en")}
    shown |= set(ASPECTS_ENGLISH_LABELS.values())  # words among the datasets' values
    for catalog in sorted(superset.CATALOGS.glob("*/locale.yaml")):
        translated = superset.read_catalog(catalog)
        missing = sorted(shown - set(translated))
        assert not missing, f"{catalog.parent.name} lacks translations of {missing}"


def test_a_label_with_quotes_or_backslashes_is_one_sql_string() -> None:
    chdb = pytest.importorskip("chdb")
    labels = {"masters": "Master's \\ 'degree'", "audit": "Audit"}
    sql = aspects_labelled("track", labels)
    query = f"SELECT {sql} FROM (SELECT arrayJoin(['masters', 'audit', 'other']) AS track)"
    shown = str(chdb.query(query, "TSVRaw")).splitlines()
    assert shown == [labels["masters"], "Audit", "other"]
    # Keys shown as they are (English words) make no SQL.
    assert aspects_labelled("track", {"Passing": "Passing"}) == "track"


def test_every_chart_says_in_one_line_what_it_shows() -> None:
    for path in sorted((superset.BUNDLE / "charts").iterdir()):
        # Some chart files are templates: their description line is read alone.
        [line] = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("description:")
        ]
        description = yaml.safe_load(line)["description"]
        assert isinstance(description, str) and description.strip(), path.name
        assert "\n" not in description.strip() and len(description) <= 160, path.name
