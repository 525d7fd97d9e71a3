"""What every plugin gives Tutor the same way: its templates and its patches."""

from __future__ import annotations

from importlib import resources

from tutor import hooks


def templates(package: str, *targets: str) -> None:
    """Render these folders or files of the package's templates/ into env/plugins/."""
    hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(resources.files(package) / "templates"))
    hooks.Filters.ENV_TEMPLATE_TARGETS.add_items([(target, "plugins") for target in targets])


def patches(package: str) -> None:
    """Each file of the package's patches/ folder fills the patch of the same name."""
    for patch in (resources.files(package) / "patches").iterdir():
        hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))
