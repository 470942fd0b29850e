"""deltaprop: neural networks that learn by backpropagation, written like the equations.

>>> import numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=0)
>>> grad = net.backprop(np.array([[0.0, 1.0]]), np.array([[1.0]]))
>>> grad.weights[0].shape  # dC/dW of the first layer: (n_out, n_in)
(3, 2)
"""

from .core.activations import ACTIVATIONS, Activation, get_activation
from .core.costs import COSTS, Cost, get_cost
from .core.gradcheck import GradcheckResult, gradcheck
from .core.initializers import INITIALIZERS
from .core.layers import Dense
from .core.network import Network
from .core.nudge import nudge
from .core.propagation import Gradient
from .errors import (
    DataError,
    DeltapropError,
    DivergenceError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from .files.checkpoint import load_checkpoint
from .files.model import load, save
from .train.callbacks import Callback, CSVLogger, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint
from .train import experiments  # deltaprop.experiments.one_neuron(...): the notes' experiments
from .train.checkpoint import Checkpoint
from .train.optim import SGD, Adam, Optimizer
from .train.run import TrainingInterrupted

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (tool.setuptools.dynamic)

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
    "experiments",
    "get_activation",
    "get_cost",
    "gradcheck",
    "load",
    "load_checkpoint",
    "nudge",
    "save",
]
