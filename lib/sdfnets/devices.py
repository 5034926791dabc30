"""Which device to compute on, and its name for the records."""

from __future__ import annotations

import os
import platform

import torch


def default_device(device=None) -> torch.device:
    """``device`` if given, else the GPU where there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name() -> str:
    """The GPU's name, or the CPU's architecture and core count."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
