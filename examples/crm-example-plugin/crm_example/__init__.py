"""crm-example-plugin: the smallest complete crmcore plugin.

This module is what the ``crm.plugins`` entry point names. crmcore imports it
for every *installed* plugin (to list plugins, check requirements and validate
settings), so it must stay cheap: the descriptor and the settings schema only.
Models, views and hook implementations live in modules that are imported only
when the plugin is enabled.
"""

from marshmallow import Schema, fields, validate

from crmcore import PluginInfo


class ExampleSettings(Schema):
    """Deployer settings: ``[settings.example]`` in ``plugins.toml`` or
    ``CRM_EXAMPLE_<NAME>`` environment variables. ``load_default`` is the default."""

    greeting = fields.String(load_default="Hello", validate=validate.Length(min=1, max=100))


plugin = PluginInfo(
    name="example",
    description="Example plugin: a welcome note for every new user.",
    hooks="crm_example.hooks",
    settings=ExampleSettings,
)
