"""Callbacks: code that runs at fixed points of :meth:`Network.fit`, Keras-style.

A callback overrides any of the ``on_*`` methods. ``fit`` sets ``callback.network`` before
training starts; setting ``network.stop_training = True`` ends training after the current epoch.
"""

from __future__ import annotations

__all__ = ["Callback", "CallbackList", "History"]


class Callback:
    """Base class: every hook does nothing."""

    network = None

    def set_network(self, network) -> None:
        self.network = network

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch: int, logs=None): ...

    def on_epoch_end(self, epoch: int, logs=None): ...

    def on_batch_end(self, batch: int, logs=None): ...


class CallbackList(Callback):
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks=None, network=None):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be deltaprop.callbacks.Callback instances, got {type(callback).__name__}")
            callback.set_network(network)

    def __bool__(self):
        return bool(self.callbacks)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)


class History(Callback):
    """What :meth:`Network.fit` returns: ``history`` maps each metric to its per-epoch list.

    >>> h = History(); h.on_epoch_end(0, {"cost": 0.5}); h.history
    {'cost': [0.5]}
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, metrics={list(self.history)})"
