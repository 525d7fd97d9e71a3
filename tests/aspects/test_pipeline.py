"""
The pipeline end to end, natively: the four plugins rendered by Tutor, the ClickHouse schema
made by `tutor local do init-clickhouse`, Ralph run from its rendered settings. One enrollment
statement, shaped as event-routing-backends sends it, is POSTed to Ralph with the LMS user's
credentials: it is in the raw table as soon as Ralph answers, and in the reporting models once
the command of the scheduled aspects-dbt service has run (the delay the aspects README states).
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.harness.fixtures import running_clickhouse
from tests.harness.processes import free_port
from tests.harness.ralph import running_ralph
from tests.harness.tutor import TutorRoot
from tutoraspects.job import xapi_generator as xapi

LMS_URL = "http://local.openedx.io"
COURSE_KEY = "course-v1:PipelineX+P101+2026_T1"


def enrollment(learner: str, course_key: str) -> dict:
    """A learner enrolls: edx.course.enrollment.activated, as event-routing-backends sends it."""
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "version": xapi.XAPI_VERSION,
        "verb": {"id": xapi.REGISTERED.id, "display": {"en": xapi.REGISTERED.display}},
        "object": {
            "id": f"{LMS_URL}/course/{course_key}",
            "objectType": "Activity",
            "definition": {
                "type": xapi.COURSE_TYPE,
                "name": {"en": "Pipeline 101"},
                "extensions": {xapi.EXT_MODE: "audit"},
            },
        },
        "context": {
            "extensions": {
                xapi.EXT_TRANSFORMER_VERSION: xapi.DEFAULT_TRANSFORMER_VERSION,
                xapi.EXT_SESSION_ID: uuid.uuid4().hex,
            }
        },
        "actor": {"objectType": "Agent", "account": {"homePage": LMS_URL, "name": learner}},
    }


def post_statement(ralph_url: str, username: str, password: str, statement: dict) -> list[str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(
        ralph_url + "/xAPI/statements",
        data=json.dumps(statement).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def test_a_statement_posted_to_ralph_reaches_the_enrollment_model(tmp_path: Path) -> None:
    port = free_port()
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse", "ralph", "superset", "aspects"],
            {**server.tutor_settings(), "RALPH_HOST": "127.0.0.1", "RALPH_PORT": port},
        )
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir)
        admin = server.client()
        statement = enrollment(str(uuid.uuid4()), COURSE_KEY)
        with running_ralph(root, port) as ralph_url:
            stored = post_statement(
                ralph_url,
                root.value("RALPH_LMS_USERNAME"),
                root.config()["RALPH_LMS_PASSWORD"],
                statement,
            )
            assert stored == [statement["id"]]
            # In the raw table as soon as Ralph has answered.
            raw = admin.query(
                "SELECT count() FROM xapi.xapi_events_all WHERE event_id = {id:UUID}",
                parameters={"id": statement["id"]},
            ).result_rows
            assert raw == [(1,)]

        enrollments = (
            "SELECT registrations, enrolled_learners FROM reporting.course_enrollments_daily "
            "WHERE course_key = {course:String}"
        )
        assert admin.query(enrollments, parameters={"course": COURSE_KEY}).result_rows == []

        # What the aspects-dbt service runs every ASPECTS_DBT_RUN_INTERVAL_MINUTES...
        service = root.compose_config()["services"]["aspects-dbt"]
        assert "sh /app/run_dbt.sh run ||" in service["command"][-1]
        # ... is `tutor local do dbt run` in the same image.
        output = root.run("local", "do", "dbt", "run", ASPECTS_JOB_DIR=job_dir).stdout
        assert "Completed successfully" in output
        rows = admin.query(enrollments, parameters={"course": COURSE_KEY}).result_rows
        assert rows == [(1, 1)]
