"""A plugin whose hook module cannot be imported."""

import crm_no_such_dependency  # noqa: F401
