"""``minigrad.nn.functional``: the same functions as `minigrad.functional`, under PyTorch's
path (``import minigrad.nn.functional as F``)."""

from minigrad.functional import *  # noqa: F403
from minigrad.functional import __all__  # noqa: F401
