"""GitHub Actions workflow commands (``::error file=…,line=…::message``), escaped as the runner reads
them: in the message ``%``, CR and LF; in a property value also ``:`` and ``,``."""

from __future__ import annotations

from typing import Literal

Level = Literal["error", "warning", "notice"]


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: Level | str, message: str, **properties: str | int) -> str:
    """One workflow command line, e.g. ``annotation("error", "bad", file="a.yaml", line=3)``."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items())
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"
