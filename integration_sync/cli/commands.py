"""Imports every command module so that each registers itself on the ``cli`` group.

One line per command module; add yours here.
"""

import integration_sync.cli.validate  # noqa: F401
from integration_sync.cli import fmt  # noqa: F401
from integration_sync.cli import plan  # noqa: F401
from integration_sync.cli import emulator  # noqa: F401
