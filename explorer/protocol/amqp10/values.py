"""AMQP 1.0 values as Python values: symbols, described values and arrays.

Owns the three kinds of value Python has no type for. Every other AMQP type
decodes to a plain Python value: null to None, boolean to bool, the integers,
char's and timestamp's milliseconds and the decimals' bits to int, float and
double to float, uuid to uuid.UUID, binary to bytes, string to str, list to
list, map to dict. The AMQP type itself stays on the byte map's spans. Sans-I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.protocol.amqp10.descriptors import Composite, composite


class Symbol(str):
    """An AMQP symbol: an ASCII name (``PLAIN``, ``x-opt-jms-dest``) kept apart
    from a string, which it equals when the text is the same."""

    __slots__ = ()

    def __repr__(self) -> str:
        """``Symbol('PLAIN')``, so a symbol reads apart from a string."""
        return f"Symbol({str.__repr__(self)})"


@dataclass(frozen=True, slots=True)
class Described:
    """A described value: a descriptor, and the value it says how to read."""

    #: A ulong (the spec's codes) or a Symbol (``amqp:open:list``).
    descriptor: object
    value: object

    @property
    def type(self) -> Composite | None:
        """The spec's type the descriptor names, if it names one."""
        return composite(self.descriptor)

    @property
    def name(self) -> str:
        """The spec's name for it (``open``, ``source`` ...), else ``described``."""
        known = self.type
        return known.name if known else "described"

    @property
    def fields(self) -> dict[str, object]:
        """A composite's fields by name, every one the spec lists (None if absent).

        Elements past the spec's fields are named by position (``[14]``); a
        value that is no list (a section's map or binary) has no fields.
        """
        if not isinstance(self.value, list):
            return {}
        names = self.type.fields if self.type else ()
        found: dict[str, object] = dict.fromkeys(names)
        for index, element in enumerate(self.value):
            found[names[index] if index < len(names) else f"[{index}]"] = element
        return found


@dataclass(frozen=True, slots=True)
class Array:
    """An AMQP array: values of one type, written with one shared constructor."""

    #: The elements' AMQP type: ``symbol``, ``uint``, ``list`` ...
    type: str
    items: tuple[object, ...]
    #: The elements' shared descriptor, when they are described (else None).
    descriptor: object = None
