"""Leadworks: the advertisers' portal and lead intake API."""

from crmcore import PluginInfo

plugin = PluginInfo(
    name="leadworks",
    description="Advertisers' portal and lead intake API, email-keyed with no duplicates",
    hooks="crmcore_plugins.leadworks.hooks",
    requires=("mail",),
)
