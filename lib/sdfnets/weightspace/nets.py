"""Phases 0-1.5 (notebooks ``02``-``05``): a shape is the weights of its own small SDF network.

Many such networks are held *batched*: every parameter carries a leading network axis
(``l0.weight`` is [N, 128, 39]), and one forward pass evaluates all N networks on their own
points with batched matrix products. N = 1 is a single network. The flat weight vector of a
network lists its tensors in ``nn.Linear`` state-dict order (weight [out, in] row-major, then
bias, layer by layer), so a row of the weight dataset is exactly ``torch.cat([p.flatten() for p
in mlp.parameters()])`` of the equivalent ``nn.Sequential``.

Families:

- ``relu_pe``: xyz -> positional encoding (6 bands: 3 + 36 = 39 dims) -> 4 x [Linear(128), ReLU]
  -> Linear(1). 54,785 parameters, the thesis' decoder.
- ``siren``: xyz -> 4 x [Linear(128), sin(omega_0 .)] -> Linear(1), with SIREN's initialisation
  (Sitzmann et al. 2020). 50,177 parameters (raw xyz in, no encoding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..layers import PositionalEncoding

FAMILIES = ("relu_pe", "siren")


@dataclass(frozen=True)
class NetSpec:
    family: str = "relu_pe"
    hidden: int = 128
    num_layers: int = 4  # hidden layers
    pe_bands: int = 6
    omega0: float = 30.0

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown network family {self.family!r}; choose one of {', '.join(FAMILIES)}")

    @classmethod
    def from_config(cls, wc, family: str = "relu_pe") -> "NetSpec":
        return cls(family, wc.hidden, wc.num_layers, wc.pe_bands, wc.omega0)

    @property
    def in_dim(self) -> int:
        return 3 + 6 * self.pe_bands if self.family == "relu_pe" else 3

    @property
    def layer_names(self) -> list[str]:
        return [f"l{i}" for i in range(self.num_layers)] + ["out"]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter name -> shape of one network, in flattening order."""
        out, d = {}, self.in_dim
        for name in self.layer_names:
            o = 1 if name == "out" else self.hidden
            out[f"{name}.weight"], out[f"{name}.bias"] = (o, d), (o,)
            d = o
        return out

    def offsets(self) -> dict[str, tuple[int, int]]:
        """Parameter name -> (start, end) in the flat weight vector."""
        out, start = {}, 0
        for name, shape in self.shapes().items():
            n = math.prod(shape)
            out[name] = (start, start + n)
            start += n
        return out

    @property
    def num_params(self) -> int:
        return sum(math.prod(s) for s in self.shapes().values())


Params = dict[str, torch.Tensor]  # name -> [N, *shape]


def init_params(spec: NetSpec, n: int, seed: int = 0, device=None) -> Params:
    """``n`` independent random initialisations: PyTorch's ``nn.Linear`` default for ReLU+PE
    (U(+-1/sqrt(fan_in)) for weights and biases), SIREN's scheme for SIREN."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for i, name in enumerate(spec.layer_names):
        o, d = spec.shapes()[f"{name}.weight"]
        bound = 1 / math.sqrt(d)
        if spec.family == "siren":
            w_bound = 1 / d if i == 0 else math.sqrt(6 / d) / spec.omega0
        else:
            w_bound = bound
        params[f"{name}.weight"] = (torch.rand(n, o, d, generator=g) * 2 - 1) * w_bound
        params[f"{name}.bias"] = (torch.rand(n, o, generator=g) * 2 - 1) * bound
    return {k: v.to(device) for k, v in params.items()}


def forward(spec: NetSpec, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Every network on its own points: ``x`` [N, P, 3] -> SDF [N, P]."""
    h = PositionalEncoding.encode(x, spec.pe_bands) if spec.family == "relu_pe" else x
    for i, name in enumerate(spec.layer_names):
        h = torch.baddbmm(params[f"{name}.bias"][:, None, :], h, params[f"{name}.weight"].transpose(1, 2))
        if name != "out":
            h = torch.sin(spec.omega0 * h) if spec.family == "siren" else torch.relu(h)
    return h.squeeze(-1)


def flatten(spec: NetSpec, params: Params) -> torch.Tensor:
    """[N, num_params] weight vectors."""
    n = next(iter(params.values())).shape[0]
    return torch.cat([params[k].reshape(n, -1) for k in spec.shapes()], dim=1)


def unflatten(spec: NetSpec, vectors: torch.Tensor) -> Params:
    vectors = vectors.reshape(-1, spec.num_params)
    return {k: vectors[:, a:b].reshape(-1, *spec.shapes()[k]) for k, (a, b) in spec.offsets().items()}


def select(params: Params, idx) -> Params:
    """Networks ``idx`` (an int keeps the network axis)."""
    idx = [idx] if isinstance(idx, int) else idx
    return {k: v[idx] for k, v in params.items()}


def repeat(params: Params, n: int) -> Params:
    """``n`` copies of a single network (a warm start)."""
    return {k: v.expand(n, *v.shape[1:]).clone() for k, v in params.items()}


def to_sequential(spec: NetSpec, params: Params, i: int = 0) -> torch.nn.Sequential:
    """Network ``i`` as a plain ``nn.Sequential`` (ReLU+PE only; used to check the batched forward)."""
    if spec.family != "relu_pe":
        raise ValueError("to_sequential covers the relu_pe family")
    mods: list[torch.nn.Module] = []
    for name in spec.layer_names:
        o, d = spec.shapes()[f"{name}.weight"]
        lin = torch.nn.Linear(d, o)
        with torch.no_grad():
            lin.weight.copy_(params[f"{name}.weight"][i])
            lin.bias.copy_(params[f"{name}.bias"][i])
        mods += [lin, torch.nn.ReLU()] if name != "out" else [lin]
    return torch.nn.Sequential(PositionalEncoding(spec.pe_bands), *mods)
