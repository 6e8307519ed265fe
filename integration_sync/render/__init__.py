"""Renderers: pure functions from a report or a plan to a string, chosen by name."""
