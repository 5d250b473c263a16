"""Fragment alignment objective (Karpathy, Joulin & Fei-Fei, NeurIPS 2014): polymodal's batched C_F + C_G
against a per-pair loop (the straightforward implementation: one (regions x fragments) block per
image-sentence pair, as written in the paper's sums). No peer library implements this objective, so the loop
is the reference; both give the same value (relative difference in float64 printed) and the table reports forward+backward time.

Run: python benchmarks/bench_fragments.py
"""

from __future__ import annotations

import time

import torch

from polymodal.alignment import fragment_alignment_loss, global_ranking_loss, image_sentence_scores


def loop_objective(v, s, rm, wm, smoothing=5.0):
    """C_F (MIL, kappa-normalised) + C_G (mean) with Python loops over image-sentence pairs."""
    K = v.shape[0]
    blocks = [[v[k][rm[k]] @ s[l][wm[l]].T for l in range(K)] for k in range(K)]
    pos_terms, neg_terms = [], []
    for k in range(K):
        for l in range(K):
            b = blocks[k][l]
            if k != l:
                neg_terms.append(torch.relu(1 + b).flatten())
                continue
            y = torch.where(b.detach() > 0, 1.0, -1.0)
            y[b.detach().argmax(0), torch.arange(b.shape[1])] = 1.0
            h = torch.relu(1 - y * b)
            pos_terms.append(h[y > 0])
            neg_terms.append(h[y < 0])
    pos, neg = torch.cat(pos_terms), torch.cat(neg_terms)
    c_f = pos.sum() / max(len(pos), 1) + neg.sum() / max(len(neg), 1)
    S = torch.stack([torch.stack([torch.relu(blocks[k][l]).sum() / (wm[l].sum() + smoothing) for l in range(K)])
                     for k in range(K)])
    c_g = S.new_zeros(())
    for k in range(K):
        for l in range(K):
            if l != k:
                c_g = c_g + torch.relu(S[k, l] - S[k, k] + 1) + torch.relu(S[l, k] - S[k, k] + 1)
    return c_f + c_g / K


def ours(v, s, rm, wm):
    c_f = fragment_alignment_loss(v, s, rm, wm)
    return c_f + global_ranking_loss(image_sentence_scores(v, s, rm, wm))


def timeit(fn, v, s, rm, wm, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        a, b = v.clone().requires_grad_(True), s.clone().requires_grad_(True)
        t = time.perf_counter()
        fn(a, b, rm, wm).backward()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    print(f"{'batch K':>8s} {'R,T':>5s} {'h':>4s} {'rel diff':>9s} {'loop ms':>9s} {'ours ms':>9s} {'speed-up':>9s}")
    for K, R, T, h in [(16, 3, 3, 32), (50, 3, 3, 32), (100, 10, 8, 64)]:
        v = torch.randn(K, R, h, generator=g) / h ** 0.5
        s = torch.randn(K, T, h, generator=g) / h ** 0.5
        rm = torch.arange(R)[None] < torch.randint(1, R + 1, (K,), generator=g)[:, None]
        wm = torch.arange(T)[None] < torch.randint(1, T + 1, (K,), generator=g)[:, None]
        a, b = v.double(), s.double()
        diff = abs(float(ours(a, b, rm, wm)) - float(loop_objective(a, b, rm, wm))) / float(ours(a, b, rm, wm))
        t_loop = timeit(loop_objective, v, s, rm, wm, repeat=1 if K > 20 else 3)
        t_ours = timeit(ours, v, s, rm, wm)
        print(f"{K:8d} {f'{R},{T}':>5s} {h:4d} {diff:9.1e} {1e3 * t_loop:9.1f} {1e3 * t_ours:9.2f} "
              f"{t_loop / t_ours:8.0f}x")


if __name__ == "__main__":
    main()
