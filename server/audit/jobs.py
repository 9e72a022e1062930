"""The audit log's retention: once a day, entries past ``AUDIT_RETENTION_DAYS`` are deleted."""

from __future__ import annotations

from datetime import timedelta

from server.audit import services
from server.jobs import job, periodic


@periodic("purge_audit_log", every=timedelta(days=1))
@job("low")
def purge_audit_log() -> str:
    """Delete the entries older than the retention."""
    return f"purged {services.purge_expired()}"
