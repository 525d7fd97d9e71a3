# Create or upgrade the Aspects ClickHouse schema as the migrations user: first the tables that
# are not dbt models (migrations apply only what is missing), then the dbt models that changed
# since the last complete run. Safe to repeat.
echo "Waiting for ClickHouse at $ASPECTS_CLICKHOUSE_HOST:$ASPECTS_CLICKHOUSE_PORT"
attempt=0
until python3 -c 'import os, ssl, sys, urllib.error, urllib.request
env = os.environ
scheme = "https" if env["ASPECTS_CLICKHOUSE_SECURE"].lower() == "true" else "http"
host, port = env["ASPECTS_CLICKHOUSE_HOST"], env["ASPECTS_CLICKHOUSE_PORT"]
try:
    urllib.request.urlopen(scheme + "://" + host + ":" + port + "/ping", timeout=5)
except urllib.error.URLError as error:
    sys.exit(5 if isinstance(error.reason, ssl.SSLCertVerificationError) else 1)' 2>/dev/null; do
    # Exit code 5: the server answered but its TLS certificate is not trusted.
    if [ "$?" -eq 5 ]; then
        echo "The TLS certificate of https://$ASPECTS_CLICKHOUSE_HOST:$ASPECTS_CLICKHOUSE_PORT/" \
            "could not be verified: check CLICKHOUSE_HOST (it must match the certificate) and" \
            "the job's CA certificates." >&2
        exit 1
    fi
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
# Quiet unless a tutor-contrib-aspects 6.x schema is here and not adopted yet.
{{ aspects_adopt }} --if-needed
echo "Building the Aspects reporting models with dbt"
{{ aspects_dbt }} changed
