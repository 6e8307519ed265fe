"""Imports every command module so that each registers itself on the ``cli`` group.

One line per command module; add yours here, in alphabetical order (the ``import a.b`` form keeps one
line per module under ruff's import sorting).
"""

import integration_sync.cli.apply
import integration_sync.cli.doctor
import integration_sync.cli.emulator
import integration_sync.cli.fmt
import integration_sync.cli.import_
import integration_sync.cli.init
import integration_sync.cli.plan
import integration_sync.cli.show
import integration_sync.cli.validate  # noqa: F401
