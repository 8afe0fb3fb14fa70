"""Forms generated from the typed content models of disclosure records
(:data:`schemas.disclosure.staff_types.STAFF_MODELS`): one input per model field, labelled in
Chinese and English, of the kind its JSON schema says (a choice, a date, a time, yes/no, a
number, a long or a short text), required where the model requires it; and the content read
back from a submitted form (empty optional inputs left out), for the model to validate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import FormData

from schemas.disclosure.staff_types import STAFF_MODELS

__all__ = ["FieldSpec", "content_from", "fields_of", "form_content", "model_fields", "values_of"]

LONG_TEXT = 2000  # a string field longer than this gets a text area
PREFIX = "c."  # form input names of content fields: "c.<field>"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label_zh: str
    label_en: str
    widget: str  # select | date | datetime | yesno | number | integer | textarea | text
    required: bool
    choices: tuple[str, ...] = ()
    hint: str = ""
    max_length: int | None = None

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _merged(prop: dict[str, Any]) -> dict[str, Any]:
    """A property with the parts of its ``anyOf`` (a nullable field) merged in."""
    merged = dict(prop)
    types: list[str] = [prop["type"]] if "type" in prop else []
    for part in prop.get("anyOf", ()):
        if "type" in part:
            types.append(part["type"])
        for key in ("format", "enum", "maxLength"):
            if key in part:
                merged[key] = part[key]
    merged["types"] = [t for t in types if t != "null"]
    return merged


def _widget(prop: dict[str, Any]) -> str:
    types = prop["types"]
    if "enum" in prop:
        return "select"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "date-time":
        return "datetime"
    if types == ["boolean"]:
        return "yesno"
    if types == ["integer"]:
        return "integer"
    if "number" in types:
        return "number"
    if (prop.get("maxLength") or 0) > LONG_TEXT:
        return "textarea"
    return "text"


def fields_of(record_type: str) -> list[FieldSpec]:
    """The form's fields for a staff record type (``KeyError`` for another type)."""
    return model_fields(STAFF_MODELS[record_type])


def model_fields(model: type[BaseModel], *, exclude: tuple[str, ...] = ()) -> list[FieldSpec]:
    """The form's fields of a pydantic model's scalar fields (but ``exclude``)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    out = []
    for name, raw in schema["properties"].items():
        if name in exclude or raw.get("type") == "array":
            continue
        prop = _merged(raw)
        out.append(
            FieldSpec(
                name=name,
                label_zh=str(raw.get("label_zh", name)),
                label_en=str(raw.get("label_en", raw.get("title", name))),
                widget=_widget(prop),
                required=name in required,
                choices=tuple(prop.get("enum", ())),
                hint=str(raw.get("description") or ""),
                max_length=prop.get("maxLength"),
            )
        )
    return out


def content_from(form: FormData, record_type: str) -> dict[str, Any]:
    """The content fields of a submitted form; an empty input is left out (the model then
    uses its default, or says the field is required)."""
    return form_content(form, fields_of(record_type))


def form_content(form: FormData, specs: list[FieldSpec]) -> dict[str, Any]:
    """The fields ``specs`` of a submitted form, as :func:`content_from`."""
    content: dict[str, Any] = {}
    for spec in specs:
        value = form.get(spec.input_name)
        if not isinstance(value, str) or not value.strip():
            continue
        content[spec.name] = value.strip()
    return content


def values_of(content: dict[str, Any] | None) -> dict[str, str]:
    """Stored or submitted content as the inputs' values (``yes``/``no`` for booleans)."""
    out: dict[str, str] = {}
    for name, value in (content or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out
