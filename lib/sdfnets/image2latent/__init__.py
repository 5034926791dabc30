"""Phase 12: frozen image features -> latent diffusion transformer -> DeepSDF latent -> mesh."""
