"""Every record type's content model, and validating content against it.

:data:`MODELS` maps a record type code (``disclosure_record_types.code``) to its model;
:func:`validate_content` turns submitted content into the canonical JSON stored in
``disclosure_records.content`` or raises :class:`ContentError` naming each bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import ValidationError

from schemas.core.localtime import LOCAL_TZ
from schemas.disclosure.auto_types import AUTO_MODELS
from schemas.disclosure.content import RecordContent
from schemas.disclosure.errors import ContentError
from schemas.disclosure.staff_types import STAFF_MODELS

__all__ = ["MODELS", "ContentError", "formed_at_of", "parse_content", "validate_content"]

MODELS: dict[str, type[RecordContent]] = {**STAFF_MODELS, **AUTO_MODELS}


def parse_content(record_type: str, content: Mapping[str, Any]) -> RecordContent:
    """The content as its model; :class:`ContentError` when the type is unknown or a field
    is missing or bad."""
    model = MODELS.get(record_type)
    if model is None:
        known = ", ".join(sorted(MODELS))
        raise ContentError(
            record_type, [{"field": "record_type", "message": f"not one of {known}"}]
        )
    try:
        return model.model_validate(dict(content))
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise ContentError(record_type, errors) from None


def validate_content(record_type: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical JSON form of valid content (what is stored and hashed)."""
    return parse_content(record_type, content).model_dump(mode="json")


def formed_at_of(parsed: RecordContent) -> datetime | None:
    """The time the content says the information was formed (a date → its local midnight)."""
    if parsed.formed_field is None:
        return None
    value = getattr(parsed, parsed.formed_field)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)
    if isinstance(value, date):
        return datetime.combine(value, time(), LOCAL_TZ).astimezone(UTC)
    return None
