"""Every metric of the project, with its convention stated: a shape against its truth
(:mod:`.shapes`), vectors against a bank of vectors (:mod:`.vectors`), and sets of shapes against
sets (:mod:`.sets`). Notebooks ``05`` and ``11`` onwards."""

from .sets import chamfer_pointflow, memorisation, set_metrics
from .shapes import (
                     FSCORE_TAU,
                     components,
                     grids_and_metrics,
                     measure_grids,
                     summary_of,
                     mesh_metrics,
                     mesh_metrics_many,
                     parts_summary,
                     sample_surface,
                     summarize,
                     surface_metrics,
                     volumetric_iou,
)
from .vectors import attractors, cosine_matrix, nearest_rows, pairwise_cosine, recall, retrieve

__all__ = ["chamfer_pointflow", "memorisation", "set_metrics", "FSCORE_TAU", "components", "grids_and_metrics", "measure_grids", "mesh_metrics",
           "mesh_metrics_many", "parts_summary", "sample_surface", "summarize", "summary_of", "surface_metrics", "volumetric_iou",
           "attractors", "cosine_matrix", "nearest_rows", "pairwise_cosine", "recall", "retrieve"]
