"""The project's tests use the testing kit it ships (crmcore.testing, loaded as a
pytest plugin through its pytest11 entry point)."""

import pytest
from hypothesis import settings

from crmcore.db import transaction

# No example may fail for taking long: a busy machine (CI's two cores, a
# browser test beside) is no bug. Speed is measured under bench/.
settings.register_profile("crmcore", deadline=None)
settings.load_profile("crmcore")


@pytest.fixture
def tx(app):
    """``with tx() as session:`` a transaction on the app's database."""
    return lambda: transaction(app.extensions["crm"].sessions)
