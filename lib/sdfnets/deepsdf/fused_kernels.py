"""Triton kernels of the hand-fused DeepSDF step (see :mod:`sdfnets.deepsdf.fused`, which imports
this module only when it runs them: Triton is optional, and importing it beside an in-process
Mesa GL context has crashed)."""

import triton
import triton.language as tl


@triton.jit
def gemm_kernel(a_desc, b_desc, out_desc, aux_desc, vec_ptr, head_ptr, part_ptr, M, N, K, rows, stride_vec,
                B_NK: tl.constexpr, MODE: tl.constexpr, HEAD: tl.constexpr, PREFETCH: tl.constexpr,
                BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr,
                NUM_PROGRAMS: tl.constexpr):
    """C = A @ B with an epilogue. MODE 0: relu(C + vec[row // rows]), and with HEAD each
    tile's dot of every row with head[n] into part[pid_n, m]. MODE 1: C * (aux > 0) and each
    tile's column sums into part[pid_m, n]. B is [N, K] when B_NK (weights in the forward),
    else [K, N]. Tensor-memory copies (TMA descriptors) and a persistent grid: each program
    walks tiles in grouped order, so the next tile's loads overlap this tile's epilogue.
    Sizes must be tile multiples (checked by the caller)."""
    num_m, num_n = M // BM, N // BN
    width = GROUP_M * num_n  # consecutive tiles share A rows in L2
    for tile in tl.range(tl.program_id(0), num_m * num_n, NUM_PROGRAMS, flatten=True):
        first_m = (tile // width) * GROUP_M
        group_size = min(num_m - first_m, GROUP_M)
        pid_m = first_m + (tile % width) % group_size
        pid_n = (tile % width) // group_size
        om, on = pid_m * BM, pid_n * BN
        if MODE == 1 and PREFETCH:
            mask = aux_desc.load([om, on]) > 0
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, K, BK):
            if B_NK:
                b = b_desc.load([on, k]).T
            else:
                b = b_desc.load([k, on])
            acc = tl.dot(a_desc.load([om, k]), b, acc)
        rm = om + tl.arange(0, BM)
        rn = on + tl.arange(0, BN)
        if MODE == 0:
            v = tl.load(vec_ptr + (om // rows) * stride_vec + rn)
            acc = tl.maximum(acc + v[None, :].to(tl.float32), 0.0)
            if HEAD:
                tl.store(part_ptr + pid_n * M + rm, tl.sum(acc * tl.load(head_ptr + rn)[None, :], axis=1))
        else:
            if not PREFETCH:
                mask = aux_desc.load([om, on]) > 0
            acc = tl.where(mask, acc, 0.0)
            tl.store(part_ptr + pid_m * N + rn, tl.sum(acc, axis=0))
        out_desc.store([om, on], acc.to(out_desc.dtype))

@triton.jit
def head_grad_kernel(g_ptr, w_ptr, h_ptr, out_ptr, part_b_ptr, part_w_ptr, M, N,
                     BM: tl.constexpr, BN: tl.constexpr):
    """out = g[m] * w[n] * (h > 0); per-tile column sums of out and of h * g[m]."""
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    offs = rm[:, None] * N + rn[None, :]
    g = tl.load(g_ptr + rm)
    h = tl.load(h_ptr + offs).to(tl.float32)
    x = tl.where(h > 0, g[:, None] * tl.load(w_ptr + rn)[None, :], 0.0)
    tl.store(out_ptr + offs, x.to(out_ptr.dtype.element_ty))
    tl.store(part_b_ptr + pid_m * N + rn, tl.sum(x, axis=0))
    tl.store(part_w_ptr + pid_m * N + rn, tl.sum(h * g[:, None], axis=0))

@triton.jit
def encode_kernel(x_ptr, freq_ptr, out_ptr, M, BANDS: tl.constexpr, WIDTH: tl.constexpr, BM: tl.constexpr):
    """[x, sin(x_a f_b), cos(x_a f_b)] in PositionalEncoding's order (column 3 + a * BANDS + b,
    then the cosines), zero-padded to WIDTH."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    c = tl.arange(0, WIDTH)
    j = tl.where(c < 3 + 3 * BANDS, c - 3, c - 3 - 3 * BANDS)  # index into the sines / cosines
    axis = tl.where(c < 3, c, tl.where(c < 3 + 6 * BANDS, j // BANDS, 0))
    valid = (rm[:, None] < M) & (c[None, :] < 3 + 6 * BANDS)
    x = tl.load(x_ptr + rm[:, None] * 3 + axis[None, :], mask=valid, other=0.0)
    xf = x * tl.load(freq_ptr + (j % BANDS), mask=c >= 3, other=0.0)[None, :]
    val = tl.where(c[None, :] < 3, x, tl.where(c[None, :] < 3 + 3 * BANDS, tl.sin(xf), tl.cos(xf)))
    val = tl.where(valid, val, 0.0)
    tl.store(out_ptr + rm[:, None] * WIDTH + c[None, :], val.to(out_ptr.dtype.element_ty), mask=rm[:, None] < M)
