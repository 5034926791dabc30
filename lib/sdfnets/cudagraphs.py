"""CUDA graphs: a training step captured once and replayed, and any inference function replayed
per input shape (a 50-step DDIM sample is ~3,000 kernel launches; replayed, one)."""

from __future__ import annotations

from typing import Callable

import torch


def capture_step(step: Callable[[], object], params: list[torch.Tensor], opt: torch.optim.Optimizer, *,
                 keep: tuple[torch.Tensor, ...] = (), warmup: int = 2):
    """Record one training step (forward, backward, optimiser) as a CUDA graph and return
    ``(graph, what step() returned)``. The step must read its inputs from fixed tensors that the
    caller refills before each ``graph.replay()``. Warm-up runs on a side stream, as capture needs;
    afterwards the parameters, the optimiser state and the tensors in ``keep`` (running sums) are put
    back as they were, so the captured run starts where an eager one would."""
    device = params[0].device
    saved = [p.detach().clone() for p in params]
    saved_opt = {p: {k: v.clone() for k, v in st.items()} for p, st in opt.state.items()}
    kept = [t.clone() for t in keep]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    with torch.no_grad():
        for p, v in zip(params, saved):
            p.copy_(v)
        for p, st in opt.state.items():
            for k, v in st.items():
                v.copy_(saved_opt[p][k]) if p in saved_opt else v.zero_()
        for t, v in zip(keep, kept):
            t.copy_(v)
    return graph, out


def graphed_call(cache: dict, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, key=()) -> torch.Tensor:
    """``fn(*inputs)`` replayed as a CUDA graph, captured on the first call for these input shapes
    (and ``key``) and kept in ``cache``. For inference loops of many small kernels (a 50-step DDIM
    sample is ~3,000 launches)."""
    k = (tuple(tuple(x.shape) for x in inputs), key)
    if k not in cache:
        static = [x.clone() for x in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn(*static)  # warm-up before capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = fn(*static)
        cache[k] = (graph, static, out)
    graph, static, out = cache[k]
    for s, x in zip(static, inputs):
        s.copy_(x)
    graph.replay()
    return out.clone()
