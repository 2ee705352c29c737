"""Built-in plugins, installed as ``crmcore_plugins.<name>``.

The folder is called ``plugins/`` in the source tree, but a top-level package
named ``plugins`` would collide with any other distribution that made the same
choice, so ``pyproject.toml`` maps it to ``crmcore_plugins``. Each plugin
registers under the entry-point group ``crm.plugins`` like a third-party one.
"""
