"""WSGI entry point for the Keystone baseline under gunicorn.

keystone.wsgi.api parses sys.argv with oslo.config at import time, which
chokes on gunicorn's own command-line flags, so hide them first. The config
file comes from OS_KEYSTONE_CONFIG_FILES (set by bench/identity/run).
"""
import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402,F401
