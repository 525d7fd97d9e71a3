"""What the aspects plugin gives Ralph: its ClickHouse backend, writing to the raw table."""

from __future__ import annotations

from tutorralph.hooks import SETTINGS as RALPH_SETTINGS

RALPH_CLICKHOUSE = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
RALPH_SETTINGS.add_items(
    [
        ("RALPH_RUNSERVER_BACKEND", "clickhouse"),
        (RALPH_CLICKHOUSE + "HOST", "{{ CLICKHOUSE_HOST }}"),
        # clickhouse-connect switches to HTTPS on ports 443 and 8443.
        (RALPH_CLICKHOUSE + "PORT", "{{ CLICKHOUSE_PORT }}"),
        (RALPH_CLICKHOUSE + "DATABASE", "{{ ASPECTS_XAPI_DATABASE }}"),
        (RALPH_CLICKHOUSE + "EVENT_TABLE_NAME", "{{ ASPECTS_RAW_XAPI_TABLE }}"),
        (RALPH_CLICKHOUSE + "USERNAME", "{{ ASPECTS_CLICKHOUSE_LRS_USER }}"),
        (RALPH_CLICKHOUSE + "PASSWORD", "{{ ASPECTS_CLICKHOUSE_LRS_PASSWORD }}"),
        # One INSERT per request. Ralph's default writes 500 statements at a time: a statement
        # it cannot write in a later chunk left the earlier chunks stored behind a 500. Below
        # ClickHouse's max_insert_block_size, so the server too takes it as one block.
        (RALPH_CLICKHOUSE + "WRITE_CHUNK_SIZE", "1000000"),
    ]
)
