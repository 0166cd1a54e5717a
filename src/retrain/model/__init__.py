"""Feature preparation, training, evaluation on the holdout and the gate."""
