"""Services: the only code that changes records. Each takes the session and the
acting user explicitly, checks permissions, and raises :mod:`crmcore.errors`."""
