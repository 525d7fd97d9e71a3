# Initialise Superset: its metadata database and user in MySQL, the database schema, the admin
# user (its password from the configuration), the default roles, then what plugins contribute
# (roles, the LMS user, databases, asset bundles, embedded dashboards, row-level security:
# superset_sync.py). Safe to repeat.
echo "Creating Superset's database and user in MySQL at {{ SUPERSET_DB_HOST }}:{{ SUPERSET_DB_PORT }}"
python - <<'SUPERSET_MYSQL_END'
import os, sys, time
import pymysql

for attempt in range(1, 21):
    try:
        connection = pymysql.connect(
            host={{ SUPERSET_DB_HOST|tojson }},
            port=int({{ SUPERSET_DB_PORT|string|tojson }}),
            user={{ MYSQL_ROOT_USERNAME|tojson }},
            password=os.environ["MYSQL_ROOT_PASSWORD"],
        )
        break
    except pymysql.err.OperationalError as error:
        if attempt == 20:
            sys.exit(f"MySQL did not answer: {error}")
        print(f"    [{attempt}/20] Waiting for MySQL...", flush=True)
        time.sleep(3)
with connection.cursor() as cursor:
    cursor.execute(
        "CREATE DATABASE IF NOT EXISTS `{{ SUPERSET_DB_NAME }}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    cursor.execute("CREATE USER IF NOT EXISTS %s@'%%'", ({{ SUPERSET_DB_USERNAME|tojson }},))
    cursor.execute(
        "ALTER USER %s@'%%' IDENTIFIED BY %s",
        ({{ SUPERSET_DB_USERNAME|tojson }}, os.environ["SUPERSET_DB_PASSWORD"]),
    )
    cursor.execute(
        "GRANT ALL ON `{{ SUPERSET_DB_NAME }}`.* TO %s@'%%'", ({{ SUPERSET_DB_USERNAME|tojson }},)
    )
connection.close()
SUPERSET_MYSQL_END

echo "Upgrading Superset's metadata database"
superset db upgrade
echo "Creating or updating the Superset admin user {{ SUPERSET_ADMIN_USERNAME }}"
superset fab create-admin --username {{ SUPERSET_ADMIN_USERNAME|superset_shell_quote }} \
    --firstname Superset --lastname Admin --email {{ SUPERSET_ADMIN_EMAIL|superset_shell_quote }} \
    --password "$SUPERSET_ADMIN_PASSWORD"
superset fab reset-password --username {{ SUPERSET_ADMIN_USERNAME|superset_shell_quote }} \
    --password "$SUPERSET_ADMIN_PASSWORD"
echo "Creating Superset's default roles and permissions"
superset init
echo "Applying the roles, the LMS user, database connections, asset bundles, embedded dashboards and row-level security filters of plugins"
python -m superset_sync
{%- for name, command in superset_init_commands() %}
echo {{ ("Running: " ~ name)|superset_shell_quote }}
{{ command }}
{%- endfor %}
echo "Superset is initialised."
