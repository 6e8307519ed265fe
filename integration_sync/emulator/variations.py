"""Per-tenant variation switches: each one is a way a real tenant may differ from the plain wire of
``docs/odata.md``. All default to the plain ASP.NET Core OData behaviour.

The switch names are part of the emulator's interface (start-up ``--vary``/``--profile``, the admin
``POST /_emulator/tenants`` body, ``EmulatorServer.add_tenant(variations=...)``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ERROR_BODIES = ("odata", "no_code", "problem", "html", "text", "empty")
QUERY_OPTIONS = ("$filter", "$select", "$orderby", "$top", "$skip", "$count")
#: How a duplicate name is refused (``conflict_reply``): each is a shape real servers send.
CONFLICT_REPLIES = ("default", "unique_index", "name_target", "opaque")
#: A change injected between the first and the second page of an unfiltered listing (``page_hook``).
PAGE_HOOKS = ("off", "delete", "edit", "repeat")
#: The switches that take one of several words, and those words.
CHOICES = {"error_body": ERROR_BODIES, "conflict_reply": CONFLICT_REPLIES, "page_hook": PAGE_HOOKS}


@dataclass(frozen=True)
class Variations:
    """How one tenant behaves. Each field is a switch; see the package docstring for the list."""

    relative_next_link: bool = False
    relative_context: bool = False
    relative_location: bool = False
    odata_401: bool = False
    ignore_maxpagesize: bool = False
    page_size: int = 100
    max_page_size: int = 1000
    post_no_content: bool = False
    patch_returns_entity: bool = False
    etags_off: bool = False
    etags_required: bool = False
    query_options_disabled: tuple[str, ...] = ()
    plus_literal: bool = False
    duplicate_name_400: bool = False
    case_sensitive_names: bool = False
    error_body: str = "odata"
    extra_properties: bool = False
    enforce_rules: bool = False
    #: Mapped properties the tenant serves under another name: (schema name, tenant's name) pairs.
    renamed_properties: tuple[tuple[str, str], ...] = ()
    #: String properties with a narrower MaxLength than the schema's: (schema name, length) pairs.
    max_lengths: tuple[tuple[str, int], ...] = ()
    omit_nulls: bool = False
    gone_412: bool = False
    conflict_reply: str = "default"
    page_hook: str = "off"
    ieee754_compatible: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Variations:
        """Switches from plain data; unknown names and wrong types raise ``ValueError``."""
        data = dict(data or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            noun = "switch" if len(unknown) == 1 else "switches"
            raise ValueError(f"unknown variation {noun}: {', '.join(unknown)}; known: {', '.join(known)}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            default = known[name].default
            if name == "query_options_disabled":
                kwargs[name] = _query_options(value)
            elif name == "renamed_properties":
                kwargs[name] = _renamed(value)
            elif name == "max_lengths":
                kwargs[name] = _max_lengths(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"variation {name} must be true or false, not {value!r}")
                kwargs[name] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"variation {name} must be a positive integer, not {value!r}")
                kwargs[name] = value
            else:
                if value not in CHOICES[name]:
                    raise ValueError(f"variation {name} must be one of {', '.join(CHOICES[name])}")
                kwargs[name] = value
        out = cls(**kwargs)
        if out.etags_off and out.etags_required:
            raise ValueError("variations etags_off and etags_required exclude each other")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Only the switches that differ from the default, as plain data."""
        base = Variations()
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != getattr(base, f.name):
                if f.name in ("renamed_properties", "max_lengths"):
                    out[f.name] = dict(value)
                else:
                    out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def served(self, name: str) -> str:
        """The name the tenant serves a schema property under."""
        return dict(self.renamed_properties).get(name, name)

    def names_in(self) -> dict[str, str]:
        """The tenant's own property names -> the schema's, for reading a request; a schema name the
        tenant renamed maps to nothing it knows (an empty name), as on a tenant that never had it."""
        out = {old: "" for old, _ in self.renamed_properties}
        out.update({new: old for old, new in self.renamed_properties})
        return out

    def max_length(self, name: str, schema_limit: int | None) -> int | None:
        """A string property's MaxLength on this tenant."""
        return dict(self.max_lengths).get(name, schema_limit)


def _query_options(value: Any) -> tuple[str, ...]:
    if value is True:
        return QUERY_OPTIONS
    if value is False or value is None:
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = tuple("$" + v.lstrip("$").lower() for v in value)
        bad = [n for n in names if n not in QUERY_OPTIONS]
        if bad:
            noun = "option" if len(bad) == 1 else "options"
            raise ValueError(f"query_options_disabled: unknown {noun} {', '.join(bad)}")
        return names
    raise ValueError("variation query_options_disabled must be true, false or a list of option names")


def _mapped(name: Any, switch: str) -> str:
    from integration_sync.emulator import model

    if name not in model.by_name():
        raise ValueError(f"variation {switch}: {name!r} is not a mapped property")
    return str(name)


def _renamed(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ValueError("variation renamed_properties must map property names to new names")
    from integration_sync.emulator import model

    out = []
    for old, new in value.items():
        _mapped(old, "renamed_properties")
        if not isinstance(new, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new):
            raise ValueError(f"variation renamed_properties: {new!r} is not a property name")
        out.append((old, new))
    served = [n for n in model.by_name() if n not in value] + [new for _, new in out] + [model.KEY]
    if len({n.casefold() for n in served}) != len(served):
        raise ValueError("variation renamed_properties: two properties would have the same name")
    return tuple(sorted(out))


def _max_lengths(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping):
        raise ValueError("variation max_lengths must map property names to lengths")
    from integration_sync.emulator import model

    out = []
    for name, length in value.items():
        if model.by_name()[_mapped(name, "max_lengths")].kind != "string":
            raise ValueError(f"variation max_lengths: {name} is not a string property")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"variation max_lengths: {name} must be a positive integer, not {length!r}")
        out.append((name, length))
    return tuple(sorted(out))


#: Named sets of switches for ``--profile TENANT=NAME``.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    # A strict server: etags required, duplicate names as 400, ASP.NET-style disabled query options.
    "strict": {"etags_required": True, "duplicate_name_400": True},
    # An OData 4.01 server with short annotation names and relative links.
    "odata401": {"odata_401": True, "relative_next_link": True, "relative_context": True},
    # A bare-bones server: no query options, no etags, its own page size, minimal replies.
    "minimal": {
        "query_options_disabled": True,
        "etags_off": True,
        "ignore_maxpagesize": True,
        "page_size": 25,
        "post_no_content": True,
        "error_body": "empty",
    },
    # Everything a real tenant may do differently, at once (where switches do not exclude each other).
    "quirky": {
        "relative_next_link": True,
        "relative_context": True,
        "relative_location": True,
        "odata_401": True,
        "ignore_maxpagesize": True,
        "page_size": 7,
        "post_no_content": True,
        "patch_returns_entity": True,
        "etags_required": True,
        "plus_literal": True,
        "duplicate_name_400": True,
        "case_sensitive_names": True,
        "error_body": "problem",
        "extra_properties": True,
    },
}


def profile(name: str) -> dict[str, Any]:
    try:
        return dict(PROFILES[name])
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
