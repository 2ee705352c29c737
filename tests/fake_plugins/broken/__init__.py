"""The broken test plugin."""

from tests.fake_plugins import info

plugin = info("broken")
