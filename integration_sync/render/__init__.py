"""Renderers: pure functions from a report or a plan to a string, chosen by name."""


def plural(n: int, word: str) -> str:
    """``1 tenant``, ``2 tenants``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
