"""The project's tests use the testing kit it ships (crmcore.testing, loaded as a
pytest plugin through its pytest11 entry point)."""

import pytest

from crmcore.db import transaction


@pytest.fixture
def tx(app):
    """``with tx() as session:`` a transaction on the app's database."""
    return lambda: transaction(app.extensions["crm"].sessions)
