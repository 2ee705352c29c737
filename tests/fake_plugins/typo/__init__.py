"""The typo test plugin."""

from tests.fake_plugins import info

plugin = info("typo")
