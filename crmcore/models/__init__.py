"""The core's tables. Plugins add theirs on the same :class:`crmcore.db.Base`."""

from crmcore.models.records import (
    Contact,
    CustomField,
    DistinctPair,
    EmailKey,
    ImportChange,
    ImportJob,
    ImportProblem,
    Lead,
    LeadStage,
    OtherKey,
    TimelineEntry,
)
from crmcore.models.users import ApiToken, LoginFailure, User

__all__ = [
    "ApiToken",
    "Contact",
    "CustomField",
    "DistinctPair",
    "EmailKey",
    "ImportChange",
    "ImportProblem",
    "ImportJob",
    "Lead",
    "LeadStage",
    "LoginFailure",
    "OtherKey",
    "TimelineEntry",
    "User",
]
