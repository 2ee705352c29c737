"""A plugin that misspells a hook name."""

from crmcore import hookimpl


@hookimpl
def crm_lead_creatd(session, actor, lead_ids):
    pass
