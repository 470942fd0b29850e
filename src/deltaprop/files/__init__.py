"""Files deltaprop writes and reads: model files, checkpoints, training histories, the run lock."""
