"""The search space in action: the only code that calls ``trial.suggest_*`` (what can be searched is :mod:`hpsearch.catalog`)."""
