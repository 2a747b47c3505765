"""swirl's Python side. Today: locating and assembling the embedded model.

The step-wise RL trainer (one `python -m swirl_trainer step --config ...` per
training step) is built on top of this package.
"""

__version__ = "0.1.0"
