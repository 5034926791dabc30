"""Phases 0-1.5: per-shape SDF networks, their training, alignment and diagnostics."""
