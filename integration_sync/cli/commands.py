"""Every command of ``integration-sync``, named in one list and added to the root group (``root.cli``).

A command is a plain ``click.command`` in its own module; it imports what it needs from ``root`` and
``common``, never the ``integration_sync.cli`` package itself. To add one, put its name and
``"module:attribute"`` in ``COMMANDS``.

The group imports a command's module only when that command runs (or ``--help`` lists them all). A plan
over a fleet starts a process per CI job, and importing every command costs each of them about 0.25 s
of CPU on 2 cores: the emulator's web stack (starlette, uvicorn) and ``doctor`` are the larger part, and
neither is needed to plan or apply.
"""

from __future__ import annotations

from integration_sync.cli.root import cli

#: Command name -> ``"module:attribute"`` of its ``click.Command``.
COMMANDS: dict[str, str] = {
    "apply": "integration_sync.cli.apply:apply_cmd",
    "doctor": "integration_sync.cli.doctor:doctor_cmd",
    "emulator": "integration_sync.cli.emulator:emulator_cmd",
    "fmt": "integration_sync.cli.fmt:fmt_cmd",
    "import": "integration_sync.cli.import_:import_cmd",
    "init": "integration_sync.cli.init:init_cmd",
    "plan": "integration_sync.cli.plan:plan_cmd",
    "schema": "integration_sync.cli.root:schema_cmd",
    "show": "integration_sync.cli.show:show_cmd",
    "validate": "integration_sync.cli.validate:validate_cmd",
}

cli.lazy.update(COMMANDS)

__all__ = ["COMMANDS", "cli"]
