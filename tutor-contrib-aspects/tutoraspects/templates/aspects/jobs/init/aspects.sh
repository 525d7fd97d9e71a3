# Create or upgrade the Aspects ClickHouse schema as the migrations user: first the tables that
# are not dbt models (migrations apply only what is missing), then the dbt models that changed
# since the last complete run. Safe to repeat.
echo "Waiting for ClickHouse at $ASPECTS_CLICKHOUSE_HOST:$ASPECTS_CLICKHOUSE_PORT"
attempt=0
until python3 -c 'import os, urllib.request
env = os.environ
scheme = "https" if env["ASPECTS_CLICKHOUSE_SECURE"].lower() == "true" else "http"
host, port = env["ASPECTS_CLICKHOUSE_HOST"], env["ASPECTS_CLICKHOUSE_PORT"]
urllib.request.urlopen(scheme + "://" + host + ":" + port + "/ping", timeout=5)' 2>/dev/null; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 20 ]; then
        echo "ClickHouse did not answer: check CLICKHOUSE_HOST and CLICKHOUSE_PORT." >&2
        exit 1
    fi
    echo "    [$attempt/20] Waiting for ClickHouse..."
    sleep 3
done
echo "Upgrading the Aspects ClickHouse schema"
{{ aspects_alembic }} upgrade head
echo "Building the Aspects reporting models with dbt"
{{ aspects_dbt }} changed
