"""The application side: what turns the framework into a program.

config (the JSON schema), pipeline (config -> trained, evaluated model), training (the
callbacks fit calls: progress, checkpoints, early stopping, ...), progress, charts,
diagnostics and explain. The core (matrix, layers, ..., network) never imports this package.
"""
