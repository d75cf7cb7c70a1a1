"""Studies: storage, samplers and pruners, the ask/tell loop, recovery, workers, sessions."""
