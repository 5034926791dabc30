"""Diffusion, once for every phase that uses it: the cosine schedule and the DDIM sampler
(:mod:`.ddim`), the DiT trunk with its latent and weight models (:mod:`.dit`), and the denoising
trainer (:mod:`.train`)."""
