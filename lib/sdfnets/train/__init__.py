"""Training machinery shared by every phase: the load-or-train loop with its run folders and
checkpoints (:mod:`.loop`) and learning-rate schedules (:mod:`.schedules`). CUDA-graph capture lives
in :mod:`sdfnets.cudagraphs`, beside the inference code that replays graphs too."""

from .loop import Run, RunningMean, data_name, load_or_train, run_dir, run_key, update
from .schedules import cosine, linear_warmup, set_lr, tensor_lrs

__all__ = ["Run", "RunningMean", "data_name", "load_or_train", "run_dir", "run_key", "update", "cosine",
           "linear_warmup", "set_lr", "tensor_lrs"]
