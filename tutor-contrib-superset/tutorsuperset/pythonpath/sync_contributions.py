"""
Bring Superset's roles, the LMS's user, database connections, asset bundles, embedded
dashboards and row-level security filters in line with what Tutor plugins contribute through
the superset plugin's hooks (superset_sync.py, rendered by Tutor). The ``superset`` init job
runs it, after ``superset init``, as ``python -m superset_sync``. Safe to repeat: a second run
changes nothing.

Database URIs and the LMS user's password are secrets: they come from the SUPERSET_DATABASES
(a JSON object, name to URI) and SUPERSET_LMS_PASSWORD environment variables, set for the
init job only, and are never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from superset_sync import (
    ADMIN_USERNAME,
    ASSET_BUNDLES,
    EMBEDDED_DASHBOARDS,
    LMS_EMAIL,
    LMS_ROLE,
    LMS_USERNAME,
    RLS_FILTERS,
    ROLES,
)

# Where the image holds the rendered bundles (the compose job mounts the rendered ones there).
ASSETS_DIR = Path(os.environ.get("SUPERSET_ASSETS_DIR", "/app/assets"))


# Superset 6.1 leaves its user-registrations API out of its admin-only views, so Gamma may list
# and add registrations; a role made from a base role has no business managing users.
USER_MANAGEMENT_VIEWS = {"UserRegistrationsRestAPI"}


class SyncError(Exception):
    """A contribution cannot be applied; the message names it."""


def sync_roles(security) -> None:
    """
    Each role gets exactly its base role's permissions (user management aside) and those
    listed; items add up.
    """
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
            wanted.extend(
                permission_view
                for permission_view in base_role.permissions
                if permission_view.view_menu.name not in USER_MANAGEMENT_VIEWS
            )
        for permission, view in listed:
            permission_view = security.find_permission_view_menu(permission, view)
            if permission_view is None:
                raise SyncError(f"Role {name!r}: Superset has no {permission!r} on {view!r}")
            wanted.append(permission_view)
        role = security.find_role(name) or security.add_role(name)
        role.permissions = list(dict.fromkeys(wanted))
        print(f"Role {name}: {len(role.permissions)} permissions", flush=True)


def sync_lms_user(security) -> None:
    """The LMS's user: LMS_ROLE only, active, with the password of the configuration."""
    role = security.find_role(LMS_ROLE)
    user = security.find_user(username=LMS_USERNAME)
    password = os.environ["SUPERSET_LMS_PASSWORD"]
    if user is None:
        user = security.add_user(LMS_USERNAME, "Open edX", "LMS", LMS_EMAIL, [role], password)
        if not user:
            raise SyncError(f"The LMS user {LMS_USERNAME} could not be created")
    else:
        from werkzeug.security import check_password_hash

        user.roles, user.active = [role], True
        if not check_password_hash(user.password or "", password):
            security.reset_password(user.id, password)
    print(f"User {LMS_USERNAME} (the LMS): role {LMS_ROLE}", flush=True)


def bundle_contents(name: str, uris: dict[str, str]) -> dict[str, str]:
    """The files of a bundle, keyed as Superset's importer wants; database URIs filled in."""
    directory = ASSETS_DIR / name
    if not (directory / "metadata.yaml").is_file():
        raise SyncError(f"Asset bundle {name!r}: {directory}/metadata.yaml is missing")
    contents = {}
    for path in sorted(directory.rglob("*.yaml")):
        key = path.relative_to(directory).as_posix()
        text = path.read_text(encoding="utf-8")
        # Rendered empty, the bundle leaves the object out (a setting is off); several YAML
        # documents are as many objects (one per language of a setting, say).
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
        if len(documents) > 1:
            for index, document in enumerate(documents):
                contents[f"{key}#{index}"] = yaml.safe_dump(document, allow_unicode=True)
        elif documents:
            contents[key] = text
    for key, text in contents.items():
        if key.startswith("databases/"):
            database = yaml.safe_load(text)
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
            existing = db.session.query(Database).filter_by(database_name=config["database_name"])
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


def sync_embedded_dashboards() -> None:
    """Each dashboard gets exactly one embedding: the uuid and origins contributed."""
    import uuid

    from superset.extensions import db
    from superset.models.dashboard import Dashboard, id_or_slug_filter
    from superset.models.embedded_dashboard import EmbeddedDashboard

    for key, embedded_uuid, origins in EMBEDDED_DASHBOARDS:
        dashboard = db.session.query(Dashboard).filter(id_or_slug_filter(key)).one_or_none()
        if dashboard is None:
            raise SyncError(f"Embedded dashboard {key!r}: there is no such dashboard")
        wanted = uuid.UUID(embedded_uuid)
        stale = [embedded for embedded in dashboard.embedded if embedded.uuid != wanted]
        for embedded in stale:
            db.session.delete(embedded)
        db.session.flush()
        embedded = db.session.get(EmbeddedDashboard, wanted)
        if embedded is not None and embedded.dashboard_id != dashboard.id:
            raise SyncError(f"Embedded dashboard {key!r}: {wanted} embeds another dashboard")
        embedded = embedded or EmbeddedDashboard(uuid=wanted, dashboard_id=dashboard.id)
        embedded.allow_domain_list = ",".join(origins)
        db.session.add(embedded)
        print(f"Embedded dashboard {key}: {wanted}, for {', '.join(origins)}", flush=True)


def sync_rls_filters(security) -> None:
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.extensions import db
    from superset.utils.core import RowLevelSecurityFilterType

    for name, roles, tables, clause in RLS_FILTERS:
        found_roles = [security.find_role(role) for role in roles]
        if None in found_roles:
            missing = [
                role for role, found in zip(roles, found_roles, strict=True) if found is None
            ]
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
        # Deny by default: a role reads the datasets its filters cover, and no other (unless a
        # role item grants it). sync_roles, run first, took away what earlier runs granted.
        for role in found_roles:
            for dataset in found_tables:
                access = security.add_permission_view_menu("datasource_access", dataset.perm)
                if access not in role.permissions:
                    role.permissions.append(access)
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
            sync_lms_user(security)
            sync_databases(uris)
            db.session.commit()
            import_bundles(uris)
            sync_embedded_dashboards()
            sync_rls_filters(security)
            db.session.commit()
