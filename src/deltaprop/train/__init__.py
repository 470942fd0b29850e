"""Learning: the mini-batch SGD loop, the run around it (checkpoints, divergence, Ctrl-C), optimisers, callbacks."""
