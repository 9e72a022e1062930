"""The WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``."""

import os

from server.app import create_app
from server.config import prepare_local_environment

prepare_local_environment(os.environ)  # the flask command runs as development, with a key under var/
app = create_app()
