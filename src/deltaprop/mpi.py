"""MPI's world, for the command line and for scripts: mpi4py's ``COMM_WORLD``, or one clear error.

Data-parallel training itself takes any mpi4py communicator, ``net.fit(X, y, comm=MPI.COMM_WORLD)``,
and calls only its methods (:mod:`deltaprop.train.parallel`); this bridge is the one module of
deltaprop that imports mpi4py, and only when :func:`world` is called. ``import deltaprop`` never
loads it.

mpi4py and an MPI library come with ``pip install "deltaprop[mpi]"`` (the ``mpich`` wheel); on a
cluster, build mpi4py against the cluster's own MPI instead (``env MPICC=$(which mpicc) pip install
--no-binary mpi4py mpi4py``), so that ``mpiexec`` or ``srun`` and mpi4py speak the same MPI.
"""

from __future__ import annotations

import os

from .errors import DeltapropError

__all__ = ["LAUNCHER_VARIABLES", "launched", "world"]

LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                      "MV2_COMM_WORLD_SIZE", "SLURM_PROCID")
"""Environment variables that MPI launchers set in the processes they start: MPICH's and Intel MPI's
Hydra (``PMI_*``, ``MPI_LOCALNRANKS``), Open MPI (``OMPI_*``, ``PMIX_RANK``), MVAPICH, Slurm's ``srun``."""


def launched() -> bool:
    """True if this process was started by ``mpiexec``, ``mpirun`` or ``srun`` (one of its variables is set)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def world(option: str = "--mpi"):
    """mpi4py's ``MPI.COMM_WORLD``; a :class:`DeltapropError` if mpi4py is missing or nothing launched us.

    A process started by hand would be an MPI world of one: training "in parallel" there is
    almost certainly a mistake (the ``mpiexec -n K`` was forgotten), so it is refused, naming
    ``option``. ``mpiexec -n 1`` is a world of one on purpose, and accepted.
    """
    try:
        import mpi4py  # noqa: F401 -- the package alone: MPI is initialised by mpi4py.MPI, below
    except ImportError:
        raise DeltapropError(f"{option} needs mpi4py and an MPI library, which are not installed: "
                             "pip install 'deltaprop[mpi]' (or build mpi4py against your cluster's MPI)") from None
    if not launched():
        raise DeltapropError(f"{option}: this process was not started by an MPI launcher; run it as "
                             "mpiexec -n K deltaprop train --mpi ... (or srun on a Slurm cluster)")
    try:
        from mpi4py import MPI  # initialises MPI
    except ImportError as error:  # mpi4py found, its MPI library not
        raise DeltapropError(f"{option}: mpi4py could not load its MPI library ({error}); reinstall it with "
                             "pip install 'deltaprop[mpi]' or build it against your MPI") from None
    return MPI.COMM_WORLD
