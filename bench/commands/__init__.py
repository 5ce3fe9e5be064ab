"""One module per ``restorebench`` sub-command.

Each module defines ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function ``(args) -> int`` (the exit code). ``bench.cli`` discovers the modules, so a new command
is one new file here.
"""
