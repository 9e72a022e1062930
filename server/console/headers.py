"""Security headers on the console and every HTML page the app serves (issue 16, F16).

The console's pages carry no inline script, event handler or style (tests/test_console_headers.py scans
the templates), so their policy allows only the app's own files. Swagger UI's page (``/api/docs``,
flask-smorest's template) starts its bundle with one inline script: that page gets the same policy with that
script's hash, and inline styles, which Swagger UI's components set."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def init_app(app: Flask) -> None:
    """Add the headers to every response (the HTML ones and everything under /console)."""
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    """CSP, no framing, same-origin referrers and no MIME sniffing; a view's own values are kept."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if not (request.path.startswith("/console") or response.mimetype == "text/html"):
        return response
    policy = docs_policy(response) if request.endpoint == DOCS_ENDPOINT else STRICT_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def docs_policy(response: Response) -> str:
    """The strict policy plus the hashes of the page's inline scripts and inline styles (Swagger UI)."""
    body = response.get_data(as_text=True)
    hashes = " ".join(f"'sha256-{_digest(script)}'" for script in _INLINE_SCRIPT.findall(body))
    return STRICT_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}".rstrip()).replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
