"""The base of every record type's content model, and bilingual field labels.

Each record type of ``schemas/codes/data/disclosure_record_types.csv`` has one pydantic model (staff
types in :mod:`schemas.disclosure.staff_types`, automatic ones in
:mod:`schemas.disclosure.auto_types`). A field carries its labels::

    party: str = field("当事人", "Party")

and the model says how its records are titled (:meth:`RecordContent.titles`) and, when one of
its fields is the day the information was formed (a decision date …), which
(``formed_field``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

__all__ = ["RecordContent", "field", "labels_of"]


def field(label_zh: str, label_en: str, default: Any = ..., **kwargs: Any) -> Any:
    """A model field with its Chinese and English label (shown in the API, CSV headers and
    import templates). Further keyword arguments go to :func:`pydantic.Field`."""
    extra: JsonDict = {"label_zh": label_zh, "label_en": label_en}
    return Field(default, title=label_en, json_schema_extra=extra, **kwargs)


class RecordContent(BaseModel):
    """Content of one record; unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # The field holding the date or time the information was formed, if the content has one.
    formed_field: ClassVar[str | None] = None

    def titles(self, enterprise_name: str | None) -> tuple[str, str]:
        """The record's title in Chinese and English."""
        raise NotImplementedError(f"{type(self).__name__} must say how it is titled")


def labels_of(model: type[RecordContent]) -> list[dict[str, Any]]:
    """Name, labels, JSON type and whether required, for every field of ``model``."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        out.append(
            {
                "name": name,
                "label_zh": prop.get("label_zh", name),
                "label_en": prop.get("label_en", prop.get("title", name)),
                "type": prop.get("type") or [t.get("type") for t in prop.get("anyOf", ())],
                "required": name in required,
            }
        )
    return out
