"""A tenant's integration as the tool holds it (``LiveIntegration``), read from an OData entity, and
the OData literals the client writes: key segments, ``$filter`` strings, query strings.

Pure values and functions; ``client`` uses them to read and address entities (docs/odata.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import quote

from integration_sync import fields

#: The etag annotation as OData 4.0 spells it, and as 4.01 may (without the ``odata.`` prefix).
_ETAGS: Final = (fields.ODATA_ETAG, "@" + fields.ODATA_ETAG.removeprefix("@odata."))
#: Characters left as they are in query values: OData punctuation. A space becomes %20, never +.
_QUERY_SAFE: Final = "'(),:$/@!*"


class LiveIntegration(NamedTuple):
    """One integration as the tenant returned it.

    ``values`` is the raw OData entity without annotations (``@odata.*``, ``Prop@odata.type``): the
    mapped and unmapped properties, ``Id`` included. ``etag`` is ``None`` when the tenant sends none.

    A named tuple, not a frozen dataclass: one is made for every listed integration of every tenant,
    and a frozen dataclass's ``__init__`` costs four times as much.
    """

    key: int | str
    etag: str | None
    values: dict[str, Any]

    @property
    def name(self) -> str:
        """The name, or ``""`` when the entity has no usable one (missing, null, not a string): such an
        entity matches no name (never ``"None"`` or a number turned into text)."""
        name = self.values.get(fields.name_property())
        return name if isinstance(name, str) else ""


def format_key(key: int | str | uuid.UUID) -> str:
    """An OData key segment: ``(42)``, ``('it''s')`` (quotes doubled), a GUID bare."""
    if isinstance(key, bool):
        raise TypeError(f"not an OData key: {key!r}")
    if isinstance(key, int):
        return f"({key})"
    if isinstance(key, uuid.UUID):
        return f"({key})"
    if isinstance(key, str):
        return "('" + key.replace("'", "''") + "')"
    raise TypeError(f"not an OData key: {key!r}")


def odata_string(value: str) -> str:
    """A string literal for ``$filter``: single quotes, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def query_string(options: Mapping[str, str]) -> str:
    """``?a=b&c=d`` with values percent-encoded, a space as ``%20`` (httpx ``params=`` would use ``+``)."""
    if not options:
        return ""
    return "?" + "&".join(f"{k}={quote(v, safe=_QUERY_SAFE)}" for k, v in options.items())


def count_of(value: Any) -> int | None:
    """A listing's ``@odata.count``: a non-negative integer, or its decimal digits as a string (OData's
    ``IEEE754Compatible=true`` format writes an ``Edm.Int64`` so); ``None`` when it is neither."""
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


def live_integration(payload: Mapping[str, Any], etag_header: str | None = None) -> LiveIntegration:
    values = dict(payload)
    etag = values.pop(_ETAGS[0], None) or values.pop(_ETAGS[1], None) or etag_header or None
    values.pop(_ETAGS[1], None)
    if "@" in "".join(values):  # other annotations (rare): one scan of the keys finds them
        values = {k: v for k, v in values.items() if "@" not in k}
    key = values.get(fields.ODATA_KEY)
    if type(key) is not int and type(key) is not str:  # a bool, a float, a subclass: not a key
        raise ValueError(f"entity without a usable {fields.ODATA_KEY!r}")
    return LiveIntegration(key=key, etag=str(etag) if etag is not None else None, values=values)


#
