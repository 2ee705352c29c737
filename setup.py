"""Package discovery for the two source roots; everything else is in pyproject.toml.

``plugins/`` is installed as ``crmcore_plugins`` (see plugins/__init__.py), a
mapping that setuptools' declarative ``find`` cannot express.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["crmcore", "crmcore.*"])
    + ["crmcore_plugins"]
    + [f"crmcore_plugins.{name}" for name in find_packages("plugins")],
)
