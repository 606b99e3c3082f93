"""The former name of `minigrad.ops.either`, kept until the engine (autograd.py, function.py)
imports the new one: then this module goes."""

from minigrad.ops.either import *  # noqa: F403
