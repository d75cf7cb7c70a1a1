"""The search space: what can be searched (catalog) and the only code that calls ``trial.suggest_*``."""
