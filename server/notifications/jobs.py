"""Jobs of notifications: deliver one outbox row, relay rows left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from server import clock
from server.db import db
from server.jobs import job, periodic, retry_with_backoff
from server.notifications import services
from server.wechat.errors import WeChatError, WeChatNoAnswer
from server.wechat.factory import wechat_client

log = logging.getLogger(__name__)
RELAY_AFTER = timedelta(seconds=30)


class TransientDeliveryError(Exception):
    """WeChat failed in a way worth retrying (network, 5xx, busy); RQ retries the job with back-off."""


@job("default", retry=retry_with_backoff)
def deliver_outbox(outbox_id: int) -> str:
    """Deliver one outbox row: the inbox entry, then a WeChat message if the user holds a grant."""
    message = services.lock_outbox(outbox_id)
    if message is None or message.processed_at is not None:
        return "nothing to do"
    template = services.templates()[message.event]
    services.write_inbox(message, template)
    send = services.prepare_wechat(message, template.wechat) if template.wechat else None
    if send is None:
        message.processed_at = clock.now()
        return "delivered"
    # The 'sending' mark is committed before the call, so a rerun after a crash cannot send again.
    db.session.commit()
    try:
        wechat_client().send_subscribe_message(
            send.openid,
            send.template_id,
            send.data,
            page=send.page,
            miniprogram_state=current_app.config.get("WECHAT_MINIPROGRAM_STATE", "formal"),
        )
    except WeChatNoAnswer as exc:
        # WeChat may have delivered it: as after a crash mid-send, it is not sent a second time.
        services.finish_wechat(send, "unknown", None, exc.errmsg)
        services.mark_processed(outbox_id)
        return "unknown (no answer)"
    except WeChatError as exc:
        if exc.permanent:
            services.finish_wechat(send, "failed", exc.errcode, exc.errmsg)
            services.mark_processed(outbox_id)
            return f"failed permanently ({exc.errcode})"
        services.finish_wechat(send, "pending", exc.errcode, exc.errmsg)
        db.session.commit()
        raise TransientDeliveryError(f"outbox {outbox_id}: {exc.errcode} {exc.errmsg}") from exc
    services.finish_wechat(send, "sent")
    services.mark_processed(outbox_id)
    return "sent"


@periodic("relay_outbox", every=timedelta(seconds=30))
@job("high")
def relay_outbox() -> int:
    """Enqueue outbox rows that were committed but never handed over (Redis was down, a process died)."""
    enqueued = services.relay_pending(RELAY_AFTER)
    if enqueued:
        log.info("relay enqueued %s outbox rows", enqueued)
    return enqueued
