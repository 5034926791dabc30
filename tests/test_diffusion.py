"""The one diffusion package: the sampler against diffusers, guidance, the DiT trunk, the denoising trainer."""

import pytest
import torch

from sdfnets import train
from sdfnets.config import ImageToLatentConfig
from sdfnets.diffusion import ddim
from sdfnets.diffusion.dit import DiT
from sdfnets.diffusion.train import DenoisingTrainer


def test_sampler_matches_diffusers_ddim():
    from diffusers import DDIMScheduler

    ref = DDIMScheduler(num_train_timesteps=500, beta_schedule="squaredcos_cap_v2", prediction_type="sample",
                        clip_sample=False)
    ours = ddim.CosineDDIM(500)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.float())
    ref.set_timesteps(50)
    assert ours.timesteps(50) == ref.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 64, generator=g), torch.randn(4, 64, generator=g)
    t = torch.tensor([0, 10, 250, 499])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t))
    x = torch.randn(4, 64, generator=g)
    for step in (490, 250, 10, 0):
        pred = torch.randn(4, 64, generator=g)
        torch.testing.assert_close(ours.step(pred, step, x, 50), ref.step(pred, step, x).prev_sample, atol=1e-4, rtol=1e-4)
    # the whole loop, step for step
    target = torch.randn(4, 64, generator=g)
    x = torch.randn(4, 64, generator=g)
    mine = ddim.sample(lambda y, t: target, x, ours, 50)
    y = x
    for t in ref.timesteps:
        y = ref.step(target, t, y).prev_sample
    torch.testing.assert_close(mine, y, atol=1e-4, rtol=1e-4)


def test_sampler_returns_the_constant_prediction_and_guidance():
    sched = ddim.CosineDDIM(500)
    x = torch.randn(3, 8)
    target = torch.full((3, 8), 0.7)
    torch.testing.assert_close(ddim.sample(lambda y, t: target, x, sched, 50), target)  # t = 0: x0 exactly
    out = ddim.sample(lambda y, t: target, x, sched, 50, uncond=lambda y, t: torch.zeros_like(y), guidance=2.0)
    torch.testing.assert_close(out, 2 * target)  # uncond + 2 (cond - uncond)
    with pytest.raises(ValueError, match="unconditional"):
        ddim.sample(lambda y, t: target, x, sched, 50, guidance=2.0)


class TokenDiT(DiT):
    """A multi-token model on the shared trunk (the shape the weight DiT takes): self-attention on."""

    def __init__(self, d=16):
        super().__init__()
        self.inp = torch.nn.Linear(4, d)
        self.build_views(5, 4, d)
        self.build_trunk(d, 2, 2, 4, self_attention=True)

    def forward(self, x_t, t, tokens=None, pad=None):
        return self.trunk(self.inp(x_t), t, tokens, pad)


def test_trunk_with_self_attention_is_token_equivariant():
    torch.manual_seed(0)
    m = TokenDiT()
    for p in m.parameters():  # leave AdaLN-Zero's identity start so that attention does something
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(2, 6, 4), torch.tensor([3, 400])
    views = m.view_tokens(torch.randn(2, 3, 5), torch.randn(2, 3, 4))
    perm = torch.randperm(6)
    torch.testing.assert_close(m(x, t, views)[:, perm], m(x[:, perm], t, views), atol=1e-5, rtol=1e-5)


class Unconditional(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3 + 1, 64), torch.nn.SiLU(), torch.nn.Linear(64, 3))

    def forward(self, x_t, t):
        return self.net(torch.cat([x_t, t[:, None].float() / 500], dim=1))


def test_denoising_trainer_without_condition_learns_and_resumes(tmp_path):
    targets = torch.tensor([[1.0, -1, 0.5], [-1.0, 1, -0.5]])
    s = ImageToLatentConfig(steps=2000, batch=128, lr=3e-3)

    def make():
        torch.manual_seed(0)
        m = Unconditional()
        return DenoisingTrainer(m, m, targets, s, seed=0, device="cpu")

    whole = train.load_or_train(make, tmp_path / "a", desc="u", checkpoint_every=500, progress=False)
    assert whole.history[-1][1] < 0.75 * whole.history[0][1]  # the x0-MSE falls (high t stays ambiguous)
    train.load_or_train(make, tmp_path / "b", desc="u", checkpoint_every=500, max_steps=700, progress=False)
    resumed = train.load_or_train(make, tmp_path / "b", desc="u", checkpoint_every=500, progress=False)
    for k, v in whole.state["dit"].items():
        torch.testing.assert_close(resumed.state["dit"][k], v, atol=0, rtol=0)
    m = Unconditional()
    m.load_state_dict(whole.state["dit"])
    with torch.no_grad():
        x = ddim.sample(lambda y, t: m(y, t), torch.randn(64, 3, generator=torch.Generator().manual_seed(1)),
                        ddim.CosineDDIM(500), 50)
    near = torch.cdist(x, targets).min(1).values
    assert (near < 0.5).float().mean() > 0.8  # samples land on the two training points
