"""A plugin that requires alpha and records the order hooks reach it."""

from crmcore import Role, hookimpl


@hookimpl
def crm_roles():
    return [Role("beta_role", "Beta", external=True)]
