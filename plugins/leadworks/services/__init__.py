"""Leadworks' rules, one module per subject: :mod:`.advertisers` (the admin's
companies and the recycle bin), :mod:`.access` (portal users, invitations, API
keys), :mod:`.owners` (the owner rule), :mod:`.fields` (the lead form's fields
an advertiser fills), :mod:`.email_history` (email handed over with a lead),
:mod:`.intake` (submitting one lead or a batch), :mod:`.handover` (what
follows every lead handed over), :mod:`.idempotency` (the API's retries),
:mod:`.uploads` (CSV files), :mod:`.submissions` (what advertisers see,
and where a merge of leads takes it),
:mod:`.stats` and :mod:`.privacy`.

Every function takes the caller's session and never commits, except
:func:`.idempotency.run_idempotent`, which takes a ``sessionmaker`` and opens
its own transactions. Permission checks live here, not in the views: staff
need ``leadworks.manage``; advertisers act only through
:func:`.access.advertiser_of`, which scopes everything to their own company.

Every lead an advertiser hands over is created by the core (its lead schema,
its key-email rule) on the advertiser's behalf. The three channels then meet in
one place, :func:`.handover.on_leads_created`, called by the
``crm_leads_created`` event for single creates and for each batch of a CSV
import alike.
"""

