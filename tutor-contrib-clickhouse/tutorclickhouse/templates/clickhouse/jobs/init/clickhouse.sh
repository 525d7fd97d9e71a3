# Initialise ClickHouse: wait for the server, check the admin login, then run the SQL
# that other plugins contribute through tutorclickhouse.hooks.INIT_SQL, in filter order.
# Every step is safe to repeat. Needs only sh and GNU wget (both in the ClickHouse image).
{%- set scheme = "https" if CLICKHOUSE_SECURE_CONNECTION else "http" %}
clickhouse_url={{ (scheme ~ "://" ~ CLICKHOUSE_HOST ~ ":" ~ CLICKHOUSE_PORT ~ "/")|clickhouse_shell_quote }}
clickhouse_user={{ CLICKHOUSE_ADMIN_USER|clickhouse_shell_quote }}
# The job definition passes the password in the environment, never in this script.
clickhouse_password=${CLICKHOUSE_ADMIN_PASSWORD:?is not set in the clickhouse-job environment}
max_attempts=20

# Send one statement ($1) as the admin user and print ClickHouse's reply, errors included.
clickhouse_query() {
    wget --quiet --output-document=- --content-on-error --tries=1 --timeout=300 \
        --header="X-ClickHouse-User: $clickhouse_user" \
        --header="X-ClickHouse-Key: $clickhouse_password" \
        --post-data="$1" "$clickhouse_url"
}

echo "Initialising ClickHouse at $clickhouse_url"
attempt=0
until wget --quiet --tries=1 --timeout=5 --output-document=/dev/null "${clickhouse_url}ping"; do
    status=$?
    # wget's exit code 5: the server answered but its TLS certificate is not trusted.
    if [ "$status" -eq 5 ]; then
        echo "The TLS certificate of ${clickhouse_url} could not be verified: check" \
            "CLICKHOUSE_HOST (it must match the certificate) and the job's CA certificates." >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    if [ "$attempt" -ge "$max_attempts" ]; then
        echo "ClickHouse did not answer at ${clickhouse_url}ping after $attempt attempts:" \
            "check CLICKHOUSE_HOST, CLICKHOUSE_PORT and CLICKHOUSE_SECURE_CONNECTION." >&2
        exit 1
    fi
    echo "    [$attempt/$max_attempts] Waiting for ClickHouse..."
    sleep 3
done

if ! reply=$(clickhouse_query "SELECT version()"); then
    echo "ClickHouse refused the admin login of user '$clickhouse_user': $reply" >&2
    echo "Check CLICKHOUSE_ADMIN_USER and CLICKHOUSE_ADMIN_PASSWORD{% if RUN_CLICKHOUSE %}; after changing them, restart the clickhouse service so that it reads them{% endif %}." >&2
    exit 1
fi
echo "ClickHouse $reply: logged in as $clickhouse_user"
{% for name, sql in iter_clickhouse_init_sql() %}
echo {{ ("Running init SQL: " ~ name)|clickhouse_shell_quote }}
sql=$(cat <<'CLICKHOUSE_SQL_END'
{{ sql }}
CLICKHOUSE_SQL_END
)
if ! reply=$(clickhouse_query "$sql"); then
    echo {{ ("ClickHouse init SQL '" ~ name ~ "' failed:")|clickhouse_shell_quote }} "$reply" >&2
    exit 1
fi
{% endfor %}
echo "ClickHouse is initialised."
