r"""Devices: minigrad computes with numpy, on the CPU, and nowhere else.

PyTorch code names its device (``x.to(device)``, ``torch.zeros(3, device=device)``,
``device = "cuda" if torch.cuda.is_available() else "cpu"``). Such code runs here
unchanged: ``minigrad.cuda.is_available()`` is False, every ``device=`` argument accepts
``"cpu"`` (or None, or a `device` of type cpu), and any other device is an error that says so,
rather than a silent fallback.
"""

from __future__ import annotations

from typing import Any

__all__ = ["device", "DeviceError", "check_device", "is_device", "cuda", "backends"]


class DeviceError(RuntimeError, ValueError):
    """A device other than the CPU was asked for (PyTorch's RuntimeError, and a ValueError
    as every bad value here)."""


def _name(d: Any) -> str:
    if isinstance(d, device):
        return d.type
    if isinstance(d, str):
        return d
    t = getattr(d, "type", None)  # a torch.device, for one
    return f"{t}:{d.index}" if isinstance(t, str) and getattr(d, "index", None) is not None \
        else (t if isinstance(t, str) else repr(d))


def check_device(d: Any, where: str = "device") -> None:
    """Accepts None, ``"cpu"`` (also ``"cpu:0"``) and a cpu `device`; anything else raises
    `DeviceError` naming it."""
    if d is None:
        return
    name = _name(d)
    kind, _, index = name.partition(":")
    if kind == "cpu" and index in ("", "0"):
        return
    raise DeviceError(
        f"{where}: device {name!r} is not available. minigrad runs on the CPU only (with "
        f"numpy), so minigrad.cuda.is_available() is False: pass device='cpu' or leave the "
        f"argument out (e.g. device = 'cuda' if torch.cuda.is_available() else 'cpu')"
    )


_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "mtia", "privateuseone")


def is_device(x: Any) -> bool:
    """Whether `x` names a device rather than a dtype (for ``to(x)``)."""
    if isinstance(x, device):
        return True
    if isinstance(x, str):
        return x.partition(":")[0] in _DEVICE_TYPES
    return isinstance(x, int) and not isinstance(x, bool) or type(x).__name__ == "device"


class device:
    """A device, as ``torch.device``: ``minigrad.device("cpu")``, the only one there is.

    It equals ``"cpu"`` and prints as ``cpu``; another type is a `DeviceError`.
    """

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:
        name = type.type if isinstance(type, device) else type
        check_device(name if index is None else f"{name}:{index}", "minigrad.device")
        self.type = "cpu"
        self.index = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return True
        if isinstance(other, str):
            return other in ("cpu", "cpu:0")
        return NotImplemented

    def __hash__(self) -> int:
        return hash("cpu")

    def __str__(self) -> str:
        return "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"


CPU = device("cpu")


class _Cuda:
    """``minigrad.cuda``: there is no GPU here."""

    @staticmethod
    def is_available() -> bool:
        """False: minigrad runs on the CPU only."""
        return False

    @staticmethod
    def device_count() -> int:
        return 0

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Nothing to seed without a GPU (PyTorch ignores it too when CUDA is absent)."""

    manual_seed_all = manual_seed

    @staticmethod
    def synchronize(device: Any = None) -> None:
        """Nothing to wait for: every op has finished when it returns."""


class _Available:
    @staticmethod
    def is_available() -> bool:
        return False


class _Backends:
    """``minigrad.backends.mps.is_available()`` and ``.cuda``: False, as on a CPU-only build."""

    mps = _Available()
    cuda = _Available()


cuda = _Cuda()
backends = _Backends()


def to_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> Any:
    """The dtype that ``to(*args, **kwargs)`` asks for (None: keep it), as PyTorch reads
    ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` and ``to(other_tensor)``; the device,
    if one is named, must be the CPU. `kwargs` left over (e.g. ``copy``) are an error."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"{where}() got unexpected arguments {sorted(kwargs)}")
    for a in args:
        if hasattr(a, "dtype") and not isinstance(a, type):  # a tensor: take its dtype
            dtype = a.dtype
        elif is_device(a):
            device = a
        else:
            dtype = a
    check_device(device, where)
    return dtype
