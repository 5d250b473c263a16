"""The built-in ``polymodal`` commands, one module each, with ``add_parser(subparsers)``
and ``run(args)``; :data:`polymodal.cli.COMMANDS` is the table of every command."""
