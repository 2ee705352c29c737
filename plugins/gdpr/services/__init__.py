"""The gdpr plugin's rules, one module per subject: :mod:`.records` (leads and
contacts, and the refusal for one already anonymized), :mod:`.audit` (writing
and reading the audit log), :mod:`.settings` (which fields are erased, retention
months), :mod:`.anonymize` (one record or several, and what would be erased),
:mod:`.touch` (restarting a record's retention), :mod:`.export` (subject access
export as JSON or ZIP), :mod:`.sweep` (the retention sweep) and :mod:`.age`
(the contact age view).

Views and commands parse input, call one function here and render; every
function that acts for a person checks the ``gdpr.manage`` permission itself,
so the web pages and the command line cannot disagree. The personal data itself
is found, exported and erased by :mod:`crmcore.services.privacy`, which drives
the core's and every plugin's privacy hooks.

Transactions:

* One anonymization (page, bulk action) is one transaction, committed by the
  caller: when the core or any plugin fails to erase, everything rolls back and
  no person is ever half anonymized. A bulk anonymization is all or nothing.
* The sweep runs one transaction per record, so that one failing plugin does
  not hold back the others' retention, and claims each record with a
  conditional ``UPDATE ... WHERE anonymized_at IS NULL``: two sweeps running at
  once (or a sweep and an admin) never anonymize one record twice.
"""
