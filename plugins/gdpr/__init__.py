"""GDPR: anonymization across every plugin, contact age, retention sweep,
subject access export and an audit log."""

from crmcore import PluginInfo

# Held by admins by default; checked by every service that acts for a person.
PERMISSION = "gdpr.manage"

plugin = PluginInfo(
    name="gdpr",
    description="GDPR: anonymize, contact age and touch, retention sweep, export, audit log",
    hooks="crmcore_plugins.gdpr.hooks",
)
