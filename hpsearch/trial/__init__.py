"""One trial: build, fit with callbacks, checkpoints and resume, outcome."""
