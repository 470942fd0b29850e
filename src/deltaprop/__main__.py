"""``python -m deltaprop`` runs the command line (see :mod:`deltaprop.cli.main`)."""

from .cli import main

raise SystemExit(main())
