"""
Bring Superset's roles, database connections, asset bundles and row-level security filters in
line with what Tutor plugins contribute through the superset plugin's hooks (rendered here by
Tutor). The ``superset`` init job runs it, after ``superset init``, as ``python -m
superset_sync``. Safe to repeat: a second run changes nothing.

Database URIs hold passwords: they come from the SUPERSET_DATABASES environment variable (a
JSON object, name to URI), set for the init job only, and are never printed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

ADMIN_USERNAME = {{ SUPERSET_ADMIN_USERNAME|tojson }}
# (name, base role, [(permission, view), ...])
ROLES = json.loads({{ superset_roles()|list|tojson|tojson }})
# (name, roles, ["schema.table", ...], clause)
RLS_FILTERS = json.loads({{ superset_rls_filters()|list|tojson|tojson }})
ASSET_BUNDLES = json.loads({{ superset_asset_bundles()|list|tojson|tojson }})
# Where the image holds the rendered bundles (the compose job mounts the rendered ones there).
ASSETS_DIR = Path(os.environ.get("SUPERSET_ASSETS_DIR", "/app/assets"))


class SyncError(Exception):
    """A contribution cannot be applied; the message names it."""


def sync_roles(security) -> None:
    """Each role gets exactly its base role's permissions and those listed; items add up."""
    roles: dict[str, tuple[set[str], list[tuple[str, str]]]] = {}
    for name, base, permissions in ROLES:
        bases, listed = roles.setdefault(name, (set(), []))
        bases.update([base] if base else [])
        listed.extend(permissions)
    for name, (bases, listed) in roles.items():
        wanted = []
        for base in sorted(bases):
            base_role = security.find_role(base)
            if base_role is None:
                raise SyncError(f"Role {name!r}: its base role {base!r} does not exist")
            wanted.extend(base_role.permissions)
        for permission, view in listed:
            permission_view = security.find_permission_view_menu(permission, view)
            if permission_view is None:
                raise SyncError(f"Role {name!r}: Superset has no {permission!r} on {view!r}")
            wanted.append(permission_view)
        role = security.find_role(name) or security.add_role(name)
        role.permissions = list(dict.fromkeys(wanted))
        print(f"Role {name}: {len(role.permissions)} permissions", flush=True)


def bundle_contents(name: str, uris: dict[str, str]) -> dict[str, str]:
    """The files of a bundle, keyed as Superset's importer wants; database URIs filled in."""
    directory = ASSETS_DIR / name
    if not (directory / "metadata.yaml").is_file():
        raise SyncError(f"Asset bundle {name!r}: {directory}/metadata.yaml is missing")
    contents = {}
    for path in sorted(directory.rglob("*.yaml")):
        key = path.relative_to(directory).as_posix()
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            continue  # rendered empty: the bundle leaves this object out (a setting is off)
        contents[key] = text
        if key.startswith("databases/"):
            database = yaml.safe_load(contents[key])
            if database["database_name"] in uris:
                database["sqlalchemy_uri"] = uris[database["database_name"]]
                contents[key] = yaml.safe_dump(database)
    return contents


def adopt_bundle_databases(contents: dict[str, str]) -> None:
    """A database created by name earlier takes the bundle's uuid, so the import updates it."""
    from superset.extensions import db
    from superset.models.core import Database

    for key, text in contents.items():
        if key.startswith("databases/"):
            config = yaml.safe_load(text)
            existing = db.session.query(Database).filter_by(
                database_name=config["database_name"]
            )
            for database in existing:
                if str(database.uuid) != str(config["uuid"]):
                    database.uuid = config["uuid"]


def sync_databases(uris: dict[str, str]) -> None:
    from superset.utils.database import get_or_create_db

    for name, uri in uris.items():
        get_or_create_db(name, uri)
        print(f"Database {name}: connection set", flush=True)


def import_bundles(uris: dict[str, str]) -> None:
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.extensions import db

    for name in ASSET_BUNDLES:
        contents = bundle_contents(name, uris)
        adopt_bundle_databases(contents)
        db.session.commit()
        ImportAssetsCommand(contents).run()
        print(f"Asset bundle {name}: {len(contents)} files imported", flush=True)


def sync_rls_filters(security) -> None:
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.extensions import db
    from superset.utils.core import RowLevelSecurityFilterType

    for name, roles, tables, clause in RLS_FILTERS:
        found_roles = [security.find_role(role) for role in roles]
        if None in found_roles:
            missing = [role for role, found in zip(roles, found_roles) if found is None]
            raise SyncError(f"Row-level security filter {name!r}: no role {missing}")
        found_tables = []
        for table in tables:
            schema, _, table_name = table.rpartition(".")
            datasets = db.session.query(SqlaTable).filter_by(table_name=table_name)
            found_tables.extend(d for d in datasets if not schema or d.schema == schema)
        rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
        rls = rls or RowLevelSecurityFilter(name=name)
        rls.filter_type = RowLevelSecurityFilterType.REGULAR
        rls.clause = clause
        rls.description = "Managed by Tutor: changes are undone by the next init."
        rls.roles = found_roles
        rls.tables = found_tables
        db.session.add(rls)
        print(f"Row-level security filter {name}: {len(found_tables)} datasets", flush=True)


def main() -> None:
    from superset.app import create_app

    uris = json.loads(os.environ.get("SUPERSET_DATABASES") or "{}")
    app = create_app()
    with app.app_context():
        from superset.extensions import db
        from superset.utils.core import override_user

        security = app.appbuilder.sm
        admin = security.find_user(username=ADMIN_USERNAME)
        with override_user(admin):
            sync_roles(security)
            sync_databases(uris)
            db.session.commit()
            import_bundles(uris)
            sync_rls_filters(security)
            db.session.commit()


if __name__ == "__main__":
    try:
        main()
    except SyncError as error:
        sys.exit(f"Superset: {error}")
