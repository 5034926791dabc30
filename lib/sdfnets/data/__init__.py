"""The shared data foundation (notebook ``00_data_foundation``): corpora, SDF samples, renders."""

from .build import build_dataset, dataset_root
from .dataset import Dataset, load_or_build

__all__ = ["Dataset", "build_dataset", "dataset_root", "load_or_build"]
