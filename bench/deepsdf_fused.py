"""The hand-fused DeepSDF step on a GPU (see bench/notes/deepsdf_speed.md), in one process:

1. correctness: the Triton kernels in bf16 against the float32 PyTorch reference of the same
   step (and that reference against autograd through the Decoder), as ||a - b|| / ||b||;
2. tiles: the forward (GEMM + bias + ReLU) and backward (GEMM + ReLU mask + column sums)
   kernels at the step's shape for a few tile shapes, beside cuBLAS doing the bare GEMM and
   eager PyTorch doing GEMM + bias + ReLU;
3. throughput: the real Trainer, inductor (torch.compile) against the hand-fused step with the
   best tiles, on one device-resident bank;
4. where the time goes: a profiler table of one fused step.

Usage: python bench/deepsdf_fused.py OUT.json
"""

from __future__ import annotations

import json
import sys
import time

import torch
import triton

from sdfnets import config
from sdfnets.deepsdf import fused
from sdfnets.data.bank import SDFBank
from sdfnets.deepsdf.model import make_decoder
from sdfnets.deepsdf.train import Trainer

TILES = [
    dict(num_warps=4, num_stages=4),
    dict(num_warps=4, num_stages=4, prefetch=True),
    dict(num_warps=8, num_stages=4),
    dict(num_warps=8, num_stages=4, prefetch=True),
    dict(num_warps=4, num_stages=3),
    dict(num_warps=4, num_stages=5),
    dict(BM=64, num_warps=4, num_stages=4),
    dict(GROUP_M=4, num_warps=4, num_stages=4),
]


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30))


def check(out: dict) -> None:
    cfg = config.resolve("full")
    torch.manual_seed(1)
    dec = make_decoder(cfg.deepsdf).cuda()
    with torch.no_grad():  # a trained-looking decoder: larger weights than the init's
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    G, S = 4, 1024
    z = (torch.randn(G, 64, device="cuda") * 0.1).requires_grad_()
    pts = torch.rand(G, S, 3, device="cuda") * 2 - 1
    w = torch.randn(G, S, device="cuda")
    runs = {}
    def autocast():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return dec(z[:, None], pts).float()

    for name, fn in (("autograd_fp32", lambda: dec(z[:, None], pts)), ("autograd_autocast_bf16", autocast),
                     ("reference_fp32", lambda: fused.decoder_sdf(dec, z, pts, fused.TorchOps(), torch.float32)),
                     ("triton_bf16", lambda: fused.decoder_sdf(dec, z, pts, fused.TritonOps(), torch.bfloat16))):
        dec.zero_grad(set_to_none=True)
        z.grad = None
        y = fn()
        (y * w).sum().backward()
        runs[name] = [y.detach()] + [z.grad.clone()] + [p.grad.clone() for p in dec.parameters()]
    ref = runs["reference_fp32"]
    for name in ("autograd_fp32", "autograd_autocast_bf16", "triton_bf16"):
        errs = [rel(a, b) for a, b in zip(runs[name], ref)]
        out.setdefault("check", {})[name] = {"output": errs[0], "latent_grad": errs[1], "max_param_grad": max(errs[2:])}
        print(f"check {name:22s} output {errs[0]:.2e}  latent grad {errs[1]:.2e}  worst parameter grad {max(errs[2:]):.2e}",
              flush=True)


def check_kernels(out: dict) -> None:
    """Each primitive on the same inputs as the reference (no ReLU-mask flips between them),
    including the skip layer's strided views (its input buffer [h | PE] and its weights)."""
    M, N, S = 8192, 512, 1024
    bf = dict(device="cuda", dtype=torch.bfloat16)
    a, pe, g = torch.randn(M, N, **bf), torch.randn(M, fused.PE_WIDTH, **bf), torch.randn(M, N, **bf)
    w, w2 = torch.randn(N, N + fused.PE_WIDTH, **bf) * 0.05, torch.randn(N, fused.PE_WIDTH, **bf) * 0.1
    v, head, gpred = torch.randn(M // S, N, device="cuda"), torch.randn(N, device="cuda"), torch.randn(M, device="cuda")
    buf = torch.relu(torch.randn(M, N + fused.PE_WIDTH, **bf))
    x = torch.rand(M, 3, device="cuda") * 2 - 1
    pe_mod = make_decoder(config.resolve("full").deepsdf).pe.cuda()
    for variant in ({}, {"prefetch": True}):
        ops, ref = fused.TritonOps(**variant), fused.TorchOps
        pairs = {"forward_skip_head": (ops.linear_relu(buf, w, v, S, head=head), ref.linear_relu(buf, w, v, S, head=head)),
                 "forward_pe_only": (ops.linear_relu(pe, w2, v[:1], S), ref.linear_relu(pe, w2, v[:1], S)),
                 "forward_into_view": (ops.linear_relu(a, w[:, :N], v, S, out=buf.clone()[:, :N]),
                                       ref.linear_relu(a, w[:, :N], v, S)),
                 "backward_strided": (ops.grad_relu(g, w[:, :N], buf[:, :N], S), ref.grad_relu(g, w[:, :N], buf[:, :N], S)),
                 "head_backward": (ops.head_grad(gpred, head, buf[:, :N].contiguous(), S),
                                   ref.head_grad(gpred, head, buf[:, :N].contiguous(), S)),
                 "encode": ((ops.encode(x, pe_mod, torch.float32),), (ref.encode(x, pe_mod, torch.float32),))}
        res = {k: [rel(x, y) for x, y in zip(got, exp) if y is not None] for k, (got, exp) in pairs.items()}
        name = "prefetch" if variant else "default"
        out.setdefault("check_kernels", {})[name] = res
        for k, errs in res.items():
            print(f"kernel {name:8s} {k:20s} " + "  ".join(f"{e:.1e}" for e in errs), flush=True)


def tiles(out: dict) -> dict:
    M, N, K = 524_288, 512, 512
    a = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.05
    b = torch.randn(1, N, device="cuda")
    h = torch.relu(torch.randn(M, K, device="cuda", dtype=torch.bfloat16))
    flop = 2 * M * N * K
    bench = lambda fn: triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")  # noqa: E731
    t_mm = bench(lambda: a @ w.T)
    t_eager = bench(lambda: torch.relu(torch.addmm(b[0].bfloat16(), a, w.T)))
    rows = {"cublas_mm_ms": t_mm, "eager_addmm_relu_ms": t_eager, "cublas_tflops": flop / t_mm / 1e9}
    print(f"cuBLAS GEMM {t_mm:.3f} ms ({flop / t_mm / 1e9:.0f} TFLOP/s); eager addmm+relu {t_eager:.3f} ms", flush=True)
    best, best_t = None, float("inf")
    for t in TILES:
        key = "_".join(f"{k}{v}" for k, v in t.items())
        try:
            best, best_t = _tile(t, key, rows, a, w, b, h, bench, flop, best, best_t)
        except Exception as e:  # e.g. out of shared memory: record and go on
            rows[key] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(f"{key:28s} failed: {rows[key]['error']}", flush=True)
    out["tiles"] = rows
    out["best_tiles"] = best
    return best


def _tile(t, key, rows, a, w, b, h, bench, flop, best, best_t):
    N = w.shape[0]
    S = 8192
    ops = fused.TritonOps(**t)
    m, s, v = 8192, 1024, torch.randn(8, N, device="cuda")  # per-shape biases, 8 shapes of 1,024 rows
    ref_f, _ = fused.TorchOps.linear_relu(a[:m], w, v, s)
    got_f, _ = ops.linear_relu(a[:m], w, v, s)
    ref_g, ref_s = fused.TorchOps.grad_relu(a[:m], w, h[:m], s)
    got_g, got_s = ops.grad_relu(a[:m], w, h[:m], s)
    err = max(rel(got_f, ref_f), rel(got_g, ref_g), rel(got_s, ref_s))
    tf = bench(lambda: ops.linear_relu(a, w, b, S))
    tg = bench(lambda: ops.grad_relu(a, w, h, S))
    rows[key] = {"forward_ms": tf, "backward_ms": tg, "rel_err": err, "forward_tflops": flop / tf / 1e9}
    print(f"{key:28s} forward {tf:.3f} ms ({flop / tf / 1e9:.0f} TFLOP/s)  backward {tg:.3f} ms  err {err:.1e}",
          flush=True)
    if err < 2e-2 and tf + tg < best_t:
        best, best_t = t, tf + tg
    return best, best_t


def measure(name: str, over: dict, bank: SDFBank, warm_steps: int = 20, steps: int = 150):
    """Points/s of the full preset with ``over`` through the real Trainer after a warm-up
    (compilation included, reported apart); also the mean loss over the timed steps."""
    tr = Trainer(config.resolve("full", deepsdf=over), bank)
    t0 = time.perf_counter()
    tr.run(warm_steps)
    torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    tr.loss()  # reset the running mean
    t0 = time.perf_counter()
    tr.run(steps)
    torch.cuda.synchronize()
    pps = tr.points_per_step * steps / (time.perf_counter() - t0)
    loss = tr.loss()
    print(f"{name:28s} {pps / 1e6:6.1f} M point-samples/s  warm-up {warm:5.1f} s  mean loss {loss:.5f}", flush=True)
    return {"points_per_second": pps, "warmup_seconds": warm, f"mean_l1_steps_{warm_steps}_{warm_steps + steps}": loss,
            **over}, tr


def throughput(out: dict, best: dict) -> None:
    fused.DEFAULT_TILES.update(best)
    bank = SDFBank.synthetic(976, 200_000, "cuda")
    variants = {"inductor_b64": {"shapes_per_step": 64},
                "triton_b64": {"shapes_per_step": 64, "kernels": "triton"},
                "triton_b64_no_graph": {"shapes_per_step": 64, "kernels": "triton", "cuda_graph": False},
                "triton_b32": {"shapes_per_step": 32, "kernels": "triton"},
                "triton_b32_no_graph": {"shapes_per_step": 32, "kernels": "triton", "cuda_graph": False},
                "triton_b128": {"shapes_per_step": 128, "kernels": "triton"}}
    rows = out.setdefault("throughput", {})
    for name, over in variants.items():
        rows[name], tr = measure(name, over, bank)
        if name == "triton_b64_no_graph":
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                tr.run(5)
                torch.cuda.synchronize()
            table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=60)
            out["profile_triton_b64_no_graph"] = table
        del tr
        torch.cuda.empty_cache()


def main(path: str) -> None:
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__}
    for step in (check_kernels, check, tiles):
        res = step(out)
        json.dump(out, open(path, "w"), indent=1)
    throughput(out, res or fused.DEFAULT_TILES)
    json.dump(out, open(path, "w"), indent=1)
    print(out.get("profile_triton_b64_no_graph", ""))


if __name__ == "__main__":
    main(sys.argv[1])
