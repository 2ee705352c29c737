"""The mail archive's rules, one module per subject: :mod:`.store` (adding
messages), :mod:`.links` (linking them to leads and contacts), :mod:`.reading`
(what a user may see: lists, one message, timelines), :mod:`.privacy` (one
person's messages, exported or erased) and :mod:`.demo`; :mod:`.records` and
:mod:`.batches` hold what they share. Nothing else writes the archive's tables.

Every function takes the caller's session and never commits. Work on many
messages or records is done in a few set-based statements per batch, never one
query per row, so that a CSV import of thousands of leads stays fast.
"""

# The mail plugin's API for other plugins (Leadworks hands over an advertiser's
# emails with store_messages): they import it from here, so the modules behind
# it can change without breaking them. The plugin itself imports the modules.
from crmcore_plugins.mail.services.links import link_records
from crmcore_plugins.mail.services.reading import get_message, messages_for
from crmcore_plugins.mail.services.store import Refusal, StoreResult, limits, store_messages

__all__ = ["Refusal", "StoreResult", "get_message", "limits", "link_records", "messages_for",
           "store_messages"]
