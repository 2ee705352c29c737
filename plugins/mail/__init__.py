"""The mail archive: email exchanged with leads and contacts, kept and shown on
their timelines."""

from crmcore import PluginInfo

plugin = PluginInfo(
    name="mail",
    description="Mail archive: emails exchanged with leads and contacts, on their timelines",
    hooks="crmcore_plugins.mail.hooks",
)
