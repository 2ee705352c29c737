"""The mail archive: email exchanged with leads and contacts, kept and shown on
their timelines."""

from marshmallow import Schema, fields, validate

from crmcore import PluginInfo


class MailSettings(Schema):
    # Sizes in megabytes: a message over the first is refused whole, an
    # attachment over the second is left out of an otherwise stored message.
    max_message_mb = fields.Integer(load_default=25, validate=validate.Range(min=1, max=1024))
    max_attachment_mb = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1024))


plugin = PluginInfo(
    name="mail",
    description="Mail archive: emails exchanged with leads and contacts, on their timelines",
    hooks="crmcore_plugins.mail.hooks",
    settings=MailSettings,
)
