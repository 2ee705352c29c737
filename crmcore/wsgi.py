"""WSGI entry for production: ``gunicorn -w 4 'crmcore.wsgi:app'``."""

from crmcore.app import create_app

app = create_app()
