"""The mathematics: feedforward, the costs, BP1-BP4, a network, gradient checks. Imports NumPy only."""
