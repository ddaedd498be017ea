"""Passwords in database and server URLs are never recorded: MLflow runs are shared, logs are read."""

import re

# scheme://user:password@host -> scheme://user:***@host (SQLAlchemy and HTTP URLs alike), also as a
# Hydra override value escapes it: scheme\://user\:password@host
_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*\\?://[^:/@\s'\"\\]*\\?:)[^@\s'\"]+@")


def redact(text: str) -> str:
    return _PASSWORD.sub(r"\1***@", text)
