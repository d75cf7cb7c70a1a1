"""hpsearch: hyperparameter search for tf.keras CNNs, tracked in MLflow."""
__version__ = "0.1.0"
