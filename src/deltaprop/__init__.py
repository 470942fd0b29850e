"""deltaprop: neural networks that learn by backpropagation, written like the equations.

>>> import numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=0)
>>> grad = net.backprop(np.array([[0.0, 1.0]]), np.array([[1.0]]))
>>> grad.weights[0].shape  # dC/dW of the first layer: (n_out, n_in)
(3, 2)
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .callbacks import CSVLogger, Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint
from .costs import COSTS, Cost, get_cost
from .errors import (
    DataError,
    DeltapropError,
    DivergenceError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from .gradcheck import GradcheckResult, gradcheck
from .initializers import INITIALIZERS
from .io import load, save
from .layers import Dense
from .network import Network
from .optim import SGD, Adam, Optimizer
from .propagation import Gradient
from .training import TrainingInterrupted
from .checkpoint import Checkpoint, load_checkpoint

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "INITIALIZERS",
    "Activation",
    "Adam",
    "CSVLogger",
    "Checkpoint",
    "Callback",
    "Cost",
    "DataError",
    "Dense",
    "EarlyStopping",
    "DeltapropError",
    "DivergenceError",
    "Gradient",
    "GradcheckResult",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ModelFileError",
    "Network",
    "NonFiniteError",
    "Optimizer",
    "SGD",
    "ShapeError",
    "TrainingInterrupted",
    "UnknownNameError",
    "get_activation",
    "get_cost",
    "gradcheck",
    "load",
    "load_checkpoint",
    "save",
]
