"""The alpha test plugin: implements every hook, with settings."""

from marshmallow import Schema, fields, validate

from tests.fake_plugins import info


class AlphaSettings(Schema):
    greeting = fields.String(load_default="hello", validate=validate.Length(min=1, max=20))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1))


plugin = info("alpha", settings=AlphaSettings)
