"""
Superset code, appended whole to superset_config.py by the aspects plugin (the superset plugin's
EXTRA_CONFIG): it runs in Superset, never in Tutor.

Superset asks a database for its default schema twice for every query of a virtual dataset (to
apply row-level security to its SQL, and for the cache key). For ClickHouse that is a new
connection each time (Superset pools none), so clickhouse-connect's set-up queries, then
``SELECT currentDatabase()``: more round trips than the chart's own query. A ClickHouse
connection's URI names its database, which is the answer: it is given without connecting.
"""


def default_schema_from_the_uri(mutate_app):
    """Superset's app mutator, which then makes the ClickHouse engine spec read the URI."""

    def mutator(app):
        from superset.databases.utils import make_url_safe
        from superset.db_engine_specs.clickhouse import ClickHouseConnectEngineSpec

        asked = ClickHouseConnectEngineSpec.get_default_schema.__func__
        if not getattr(asked, "from_the_uri", False):

            def get_default_schema(cls, database, catalog):
                named = make_url_safe(database.sqlalchemy_uri).database
                # clickhouse-connect reads "__default__" as no database named.
                if named and named != "__default__":
                    return named
                return asked(cls, database, catalog)

            get_default_schema.from_the_uri = True
            ClickHouseConnectEngineSpec.get_default_schema = classmethod(get_default_schema)
        mutate_app(app)

    return mutator


# superset_config.py's FLASK_APP_MUTATOR (the superset plugin's), run after this one.
FLASK_APP_MUTATOR = default_schema_from_the_uri(FLASK_APP_MUTATOR)  # noqa: F821
