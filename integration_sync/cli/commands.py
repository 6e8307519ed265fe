"""Imports every command module so that each registers itself on the ``cli`` group.

One line per command module; add yours here.
"""
