"""BLAS on one thread for the products that run faster so (see :func:`deltaprop.core.workspace.bp4_on_one_thread`).

Needs threadpoolctl (``pip install deltaprop[speed]``); without it, or with a BLAS it cannot
drive, :class:`OneBlasThread` does nothing and results are the same.
"""

from __future__ import annotations

__all__ = ["OneBlasThread"]


class OneBlasThread:
    """Context manager: BLAS on one thread inside, as before outside (a no-op without threadpoolctl)."""

    controllers = None  # threadpoolctl's controllers of the BLAS libraries, found on first use

    def __enter__(self):
        if OneBlasThread.controllers is None:
            try:
                from threadpoolctl import ThreadpoolController  # optional: deltaprop[speed]

                OneBlasThread.controllers = ThreadpoolController().select(user_api="blas").lib_controllers
            except Exception:  # not installed, or unable to drive this BLAS: run as is
                OneBlasThread.controllers = []
        self.saved = [(c, c.get_num_threads()) for c in OneBlasThread.controllers]
        for controller, threads in self.saved:
            if threads != 1:
                controller.set_num_threads(1)
        return self

    def __exit__(self, *exc_info):
        for controller, threads in self.saved:
            if threads != 1:
                controller.set_num_threads(threads)
