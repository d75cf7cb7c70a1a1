"""Model builders: the CNN, optimizers, regularizers, learning-rate schedules."""
