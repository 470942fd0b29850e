"""The APIs other people's code already speaks, delegating to deltaprop's :class:`~deltaprop.Network`.

* :mod:`deltaprop.compat.nielsen`: the ``Network`` of Michael Nielsen's ``network.py``
  (*Neural Networks and Deep Learning*, chapter 1): ``import deltaprop.compat.nielsen as network``.
* :mod:`deltaprop.compat.nielsen2`: the ``Network`` of his ``network2.py`` (chapter 3):
  cross-entropy cost, L2 regularisation, monitoring, JSON save/load.

Both accept the book's data format (lists or zips of ``(x, y)`` column-vector tuples) and convert
it to arrays; the learning itself is :meth:`deltaprop.Network.fit`.
"""
