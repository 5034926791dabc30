"""Phase 11: DeepSDF, one shared decoder and one latent per shape (notebook ``11_deepsdf``)."""
