"""The beta test plugin."""

from tests.fake_plugins import info

plugin = info("beta", requires=("alpha",))
