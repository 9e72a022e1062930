"""Schemas of the inbox and subscribe grants."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate

from server.schemas import FITS_INT, NEXT_BEFORE_ID, LocalDateTime, NewestFirstArgs


class NotificationSchema(Schema):
    """One inbox entry."""

    id = fields.Integer(required=True)
    event = fields.String(required=True, metadata={"example": "party_report.approved"})
    title = fields.String(required=True)
    body = fields.String(required=True)
    data = fields.Dict(required=True)
    read = fields.Function(lambda n: n.read_at is not None, required=True, metadata={"type": "boolean"})
    read_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime(required=True)


class InboxArgs(NewestFirstArgs):
    """Paging and the unread filter."""

    unread_only = fields.Boolean(load_default=False)


class InboxSchema(Schema):
    """A page of the inbox with the unread count."""

    items = fields.List(fields.Nested(NotificationSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    next_before_id = NEXT_BEFORE_ID
    unread_count = fields.Integer(required=True)


class MarkReadSchema(Schema):
    """Which notifications to mark read: ``ids``, or ``all``."""

    ids = fields.List(fields.Integer(strict=True, validate=FITS_INT), validate=validate.Length(max=500))
    all = fields.Boolean(load_default=False)


class MarkedSchema(Schema):
    """How many were marked, and what is left unread."""

    updated = fields.Integer(required=True)
    unread_count = fields.Integer(required=True)


SUBSCRIBE_ANSWERS = ("accept", "reject", "ban", "filter")  # wx.requestSubscribeMessage, per template
MAX_SUBSCRIBE_ANSWERS = 20


class SubscriptionsSchema(Schema):
    """What wx.requestSubscribeMessage returned, passed on as it came
    (``{"errMsg": "requestSubscribeMessage:ok", "<template id>": "accept" | "reject" | "ban" | "filter"}``),
    or the accepted ids as ``{"template_ids": [...]}``. Loads to ``{"template_ids": [the accepted ids]}``."""

    class Meta:
        unknown = INCLUDE  # the template ids are the keys of WeChat's result object

    template_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(min=1, max=MAX_SUBSCRIBE_ANSWERS),
        metadata={"description": "the accepted template ids (the older shape)"},
    )
    err_msg = fields.String(
        data_key="errMsg",
        validate=validate.Length(max=500),
        metadata={"description": "WeChat's errMsg, e.g. requestSubscribeMessage:ok"},
    )

    @post_load
    def accepted(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, list[str]]:
        """The accepted ids of either shape; every other answer of WeChat's object is checked and dropped."""
        answers = {key: value for key, value in data.items() if key not in ("template_ids", "err_msg")}
        errors: dict[str, list[str]] = {}
        for key, value in answers.items():
            if not 1 <= len(key) <= 64:
                errors[key[:64]] = ["A template id has 1-64 characters."]
            elif value not in SUBSCRIBE_ANSWERS:
                errors[key] = [f"Must be one of: {', '.join(SUBSCRIBE_ANSWERS)}."]
        if len(answers) > MAX_SUBSCRIBE_ANSWERS:
            errors["_schema"] = [f"At most {MAX_SUBSCRIBE_ANSWERS} templates."]
        if "template_ids" not in data and "err_msg" not in data and not answers:
            errors["template_ids"] = ["Missing data for required field."]
        if errors:
            raise ValidationError(errors)
        accepted = list(data.get("template_ids", []))
        accepted += [key for key, value in answers.items() if value == "accept"]
        return {"template_ids": accepted}


class SubscribeTemplateSchema(Schema):
    """One subscribe template: the events it carries and the moments the client asks for it."""

    template_id = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    ask_at = fields.List(fields.String(), required=True, metadata={"description": "moments, e.g. wish.post"})


class SubscribeCatalogueSchema(Schema):
    """The templates, and per moment of the client the ids for wx.requestSubscribeMessage (at most 3)."""

    templates = fields.List(fields.Nested(SubscribeTemplateSchema), required=True)
    moments = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={
            "description": "wish.post, wish.claim, redemption.request, activity.signup, party_report.submit, "
            "community_move.apply, volunteer.apply, points.view → template ids"
        },
    )


class GrantsSchema(Schema):
    """Remaining grants per template, and every template the client may ask for."""

    grants = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    template_ids = fields.List(fields.String(), required=True)
