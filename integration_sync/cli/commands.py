"""Every command of ``integration-sync``, added to the root group (``root.cli``) in one list.

A command is a plain ``click.command`` in its own module; it imports what it needs from ``root`` and
``common``, never the ``integration_sync.cli`` package itself. To add one, import it here and put it in
``COMMANDS``.

The imports are eager, not lazy: ``--help`` needs every command's help text (so it would import them
all anyway), and tests read ``cli.commands``. What it costs, measured with
``python -X importtime -m integration_sync --help`` on 2 shared cores at a load of 2.5 to 3.5: the
command modules take 1.1 to 1.6 s of the 1.3 to 1.8 s that importing ``integration_sync.cli`` takes,
most of it httpx and the client (0.4 to 0.8 s), and the YAML, schema and filter-checker modules that
``validate`` needs too. A lazy group would spare ``validate`` and ``fmt`` the HTTP half; it is not worth
a second list of help texts today.
"""

from __future__ import annotations

import click

from integration_sync.cli.apply import apply_cmd
from integration_sync.cli.doctor import doctor_cmd
from integration_sync.cli.emulator import emulator_cmd
from integration_sync.cli.fmt import fmt_cmd
from integration_sync.cli.import_ import import_cmd
from integration_sync.cli.init import init_cmd
from integration_sync.cli.plan import plan_cmd
from integration_sync.cli.root import cli, schema_cmd
from integration_sync.cli.show import show_cmd
from integration_sync.cli.validate import validate_cmd

COMMANDS: tuple[click.Command, ...] = (
    apply_cmd,
    doctor_cmd,
    emulator_cmd,
    fmt_cmd,
    import_cmd,
    init_cmd,
    plan_cmd,
    schema_cmd,
    show_cmd,
    validate_cmd,
)

for _command in COMMANDS:
    cli.add_command(_command)

__all__ = ["COMMANDS", "cli"]
