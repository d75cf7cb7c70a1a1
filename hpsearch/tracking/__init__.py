"""MLflow: the only code that imports ``mlflow``."""
