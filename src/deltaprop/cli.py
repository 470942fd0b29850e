"""The ``deltaprop`` command (placeholder until the command-line issue lands: ``train`` on digits)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="deltaprop", description="Neural networks that learn by backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train a [64, 30, 10] sigmoid network on scikit-learn's digits")
    parser.parse_args(argv)

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from .network import Network

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    net = Network([64, 30, 10], seed=0)
    history = net.fit(X_train, y_train, epochs=30, batch_size=10, eta=3.0, seed=0, validation_data=(X_test, y_test))
    for epoch, accuracy in enumerate(history.history["val_accuracy"]):
        print(f"epoch {epoch + 1:2d}: test accuracy {accuracy:.4f}")
    print(f"test accuracy: {net.evaluate(X_test, y_test):.4f}", file=sys.stdout)
    del np
    return 0
