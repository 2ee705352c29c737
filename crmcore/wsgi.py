"""WSGI entry for production: ``gunicorn -w 4 -b 0.0.0.0:8000 'crmcore.wsgi:app'``.

Run ``crm db upgrade`` before starting; the app never migrates on start-up.
"""

import sys

from crmcore.startup import long_lived

with long_lived():
    from crmcore.app import create_app
    from crmcore.errors import StartupError

    try:
        app = create_app()
    except StartupError as exc:
        # One clear line in the server log instead of a traceback per worker.
        sys.exit(f"crmcore cannot start: {exc.detail}")
