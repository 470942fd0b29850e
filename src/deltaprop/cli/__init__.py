"""The ``deltaprop`` command (see :mod:`deltaprop.cli.main`)."""

from .main import main

__all__ = ["main"]
