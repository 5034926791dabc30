"""The thesis' noise schedule and sampler, for every diffusion model of the project: cosine
schedule (``squaredcos_cap_v2``) with T = 500, the network predicts x0, DDIM with 50 steps and
eta = 0, optional classifier-free guidance.

Written out (about 40 lines) so that training and sampling run where diffusers is not installed
(GPU nodes without network, the CPU demo); ``tests/test_diffusion.py`` checks it step for step
against diffusers' ``DDIMScheduler`` configured the same way.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t [B, ...], t [B]) -> predicted x0


class CosineDDIM:
    """Cosine-schedule DDPM forward process and deterministic DDIM sampling with x0-prediction
    (diffusers: ``DDIMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2",
    prediction_type="sample", clip_sample=False)``, "leading" timestep spacing)."""

    def __init__(self, timesteps: int = 500):
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / timesteps) / alpha_bar(i / timesteps), 0.999) for i in range(timesteps)]
        self.T = timesteps
        self.alphas_cumprod = torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0).float()

    def to(self, device) -> "CosineDDIM":
        self.alphas_cumprod = self.alphas_cumprod.to(device)
        return self

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ac = self.alphas_cumprod.to(x0.device)[t].reshape(-1, *[1] * (x0.dim() - 1))
        return ac.sqrt() * x0 + (1 - ac).sqrt() * noise

    def timesteps(self, steps: int) -> list[int]:
        ratio = self.T // steps
        return [i * ratio for i in reversed(range(steps))]

    def step(self, x0: torch.Tensor, t: int, x_t: torch.Tensor, steps: int) -> torch.Tensor:
        """One DDIM step (eta = 0) from timestep ``t`` given the predicted x0."""
        ac = self.alphas_cumprod
        prev = t - self.T // steps
        a_t, a_prev = float(ac[t]), float(ac[prev]) if prev >= 0 else 1.0
        eps = (x_t - a_t**0.5 * x0) / (1 - a_t) ** 0.5
        return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def sample(denoise: Denoise, x: torch.Tensor, schedule: CosineDDIM, steps: int, *,
           uncond: Denoise | None = None, guidance: float = 1.0) -> torch.Tensor:
    """DDIM from the noise ``x`` [B, ...] to x0 in ``steps`` steps. With ``guidance`` != 1 the
    prediction is ``uncond + guidance * (cond - uncond)`` (classifier-free guidance)."""
    if guidance != 1.0 and uncond is None:
        raise ValueError("classifier-free guidance needs the unconditional denoiser (uncond=...)")
    for t in schedule.timesteps(steps):
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0 = denoise(x, tt)
        if guidance != 1.0:
            x0_u = uncond(x, tt)
            x0 = x0_u + guidance * (x0 - x0_u)
        x = schedule.step(x0, t, x, steps)
    return x
