"""AMQP 1.0 frames and values as plain JSON: what `trace --json` prints.

Owns `frame_values(frame)`: a 1.0 frame's fields by the spec's names (a
performative's, a protocol header's four numbers, and the message a transfer
completes) with a note beside each timestamp, and `value_json`, which turns
the values the decoder reads into JSON: a symbol is its text, binary is text
when it is UTF-8 (else ``0x`` and hex, as 0-9-1's bytes), a uuid its canonical
text, an array its items, a map's non-text keys their JSON, and a described
value ``{"descriptor": name, "fields": {...}}`` (or ``"value"`` when it is
described over no list). Timestamps stay the milliseconds the wire carries
(the decoder keeps no type apart from the value); the two the spec types so,
a message's properties' absolute-expiry-time and creation-time, get a note
with their date. Pass a frame through `fields.shown` first, to mask its
secrets. Sans-I/O.
"""

from __future__ import annotations

import json
import uuid
from typing import Final

from explorer.protocol.amqp10.frames import Body, Header
from explorer.protocol.amqp10.values import Array, Described
from explorer.protocol.frames import Frame
from explorer.protocol.values import JSON, Note, NoteKind, Values, text_of, utc

#: The fields of a message's properties section the spec types as timestamps.
TIMESTAMPS: Final = ("absolute-expiry-time", "creation-time")


def frame_values(frame: Frame) -> Values:
    """A 1.0 frame's fields as JSON, by the spec's names ({} for a heartbeat).

    A transfer that completes a message adds ``message``: its sections, in
    order, each a described value; its properties' timestamps get notes.
    """
    payload = frame.payload
    if isinstance(payload, Header):
        return Values({
            "protocol_id": payload.protocol_id,
            "major": payload.major,
            "minor": payload.minor,
            "revision": payload.revision,
        })  # fmt: skip
    assert isinstance(payload, Body), "a frame of Amqp10Decoder's"
    fields = {name: value_json(value) for name, value in payload.fields.items()}
    notes: list[Note] = []
    if payload.message is not None:
        fields["message"] = [value_json(section) for section in payload.message]
        for index, section in enumerate(payload.message):
            if section.name == "properties":
                notes += _timestamp_notes(section, ("message", index, "fields"))
    return Values(fields, tuple(notes))


def _timestamp_notes(properties: Described, path: tuple[str | int, ...]) -> list[Note]:
    """A note with the date of each timestamp a properties section holds."""
    notes = []
    for name in TIMESTAMPS:
        value = properties.fields.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            seconds, millis = divmod(value, 1000)
            date = utc(seconds, f".{millis:03d}")
            text = f"{date} (UTC; AMQP 1.0 counts milliseconds since 1970)"
            notes.append(Note((*path, name), NoteKind.TIMESTAMP, text))
    return notes


def value_json(value: object) -> JSON:
    """One value the 1.0 decoder read, as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, bytes | bytearray):
        return text_of(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Described):
        return _described(value)
    if isinstance(value, Array):
        return [value_json(item) for item in value.items]
    if isinstance(value, list | tuple):
        return [value_json(item) for item in value]
    if isinstance(value, dict):
        return {_key(key): value_json(item) for key, item in value.items()}
    return repr(value)


def _described(value: Described) -> dict[str, JSON]:
    """``{"descriptor": name, "fields": {...}}``, or its ``value`` over no list."""
    known = value.type
    descriptor = known.name if known else value_json(value.descriptor)
    if known is not None and known.source == "list" and isinstance(value.value, list):
        fields = {name: value_json(item) for name, item in value.fields.items()}
        return {"descriptor": descriptor, "fields": fields}
    return {"descriptor": descriptor, "value": value_json(value.value)}


def _key(key: object) -> str:
    """A map key as a JSON object's key: text as it is, anything else as JSON."""
    found = value_json(key)
    return found if isinstance(found, str) else json.dumps(found)
