"""The badmig test plugin."""

from tests.fake_plugins import info

plugin = info("badmig")
