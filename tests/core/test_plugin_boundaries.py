"""Built-in plugins use only the public plugin API (docs/plugin-tutorial.md,
"What a plugin may import"), exactly as a third-party plugin must."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = {
    "crmcore",
    "crmcore.api.kit",
    "crmcore.auth.passwords",
    "crmcore.auth.roles",
    "crmcore.auth.tokens",
    "crmcore.db",
    "crmcore.errors",
    "crmcore.jobs",
    "crmcore.mail",
    "crmcore.models",
    "crmcore.schemas.base",
    "crmcore.schemas.records",
    "crmcore.schemas.users",
    "crmcore.services.imports",
    "crmcore.services.privacy",
    "crmcore.services.records",
    "crmcore.services.users",
    "crmcore.testing",
    "crmcore.types",
    "crmcore.web.kit",
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "crmcore":
                # `from crmcore import services` reaches past the top level.
                found.update(f"crmcore.{a.name}" for a in node.names
                             if a.name[0].islower() and a.name != "hookimpl")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_built_in_plugins_import_only_the_public_api():
    offences = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for module in imported_modules(path):
            # crmcore_plugins.* (a plugin's own modules, a required plugin's) is not the core.
            if (module == "crmcore" or module.startswith("crmcore.")) and module not in PUBLIC:
                offences.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offences, "plugins reach into crmcore internals:\n" + "\n".join(offences)


def test_the_public_modules_are_documented():
    tutorial = (ROOT / "docs" / "plugin-tutorial.md").read_text()
    missing = [m for m in sorted(PUBLIC) if f"`{m}`" not in tutorial]
    assert not missing, f"public modules missing from docs/plugin-tutorial.md: {missing}"
