"""GDPR: anonymization across every plugin, contact age, retention sweep,
subject access export and an audit log."""

from crmcore import PluginInfo

plugin = PluginInfo(
    name="gdpr",
    description="GDPR: anonymize, contact age and touch, retention sweep, export, audit log",
    hooks="crmcore_plugins.gdpr.hooks",
)
