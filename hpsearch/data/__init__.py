"""Datasets: sources on disk or by name, splits, tf.data pipelines."""
