"""Sum-product loopy belief propagation in log space on multi-chain latent
graphs (one chain per view, pairwise cross-view edges), with the Bethe
approximation of log Z. Used by :class:`MultiViewHCRF` when the joint latent
space is too large for the exact forward algorithm.

Messages are kept as normalised log-messages; each log-sum-exp over a
pairwise table is computed as ``log(exp(m - max m) @ exp(theta - max theta))
+ const`` (exact log-sum-exp arithmetic, the constant dropped by the
normalisation), which is a batched matrix product instead of a broadcast
``(H, H)`` log-sum-exp (30x faster at H = 40).

Schedule: chain-wise (Gauss-Seidel over views). For each view in turn, the
incoming cross-view messages are folded into the node potentials and the
view's chain is solved exactly by a forward-backward pass (which *is* BP on
the chain with these messages held fixed); then the messages leaving that
view are recomputed from the cavity beliefs and damped in log space. On a
tree-structured graph this is exact BP and converges in a few sweeps; on a
loopy graph it approximates the marginals (Murphy, Weiss & Jordan, UAI 1999;
Yedidia, Freeman & Weiss 2003 for the Bethe free energy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class BetheResult:
    """Loopy-BP output. ``log_z`` (B, Y): Bethe approximation of log Z per
    class (differentiable: its gradient is the belief-weighted sum of the
    potentials' gradients, the exact gradient of the Bethe log Z at a BP
    fixed point); ``marginals``: per view (B, Y, T, H_v) node beliefs
    ``b(h^v_t)`` (probabilities, detached; zero at padded steps); ``n_iter``: sweeps run;
    ``delta``: largest log-message change of the last sweep."""

    log_z: torch.Tensor
    marginals: list[torch.Tensor]
    n_iter: int
    delta: float


def _norm(m: torch.Tensor) -> torch.Tensor:
    return m - torch.logsumexp(m, -1, keepdim=True)


def _shift(z: torch.Tensor, s: int) -> torch.Tensor:
    """``out[..., t, :] = z[..., t - s, :]`` along the time axis (2), zeros before ``s``."""
    if s == 0:
        return z
    return torch.cat([torch.zeros_like(z[:, :, :s]), z[:, :, :-s]], 2)


def _exp_table(W: torch.Tensor) -> torch.Tensor:
    """``exp(W - max W)`` per (H, H) table (the max is dropped by the message normalisation);
    a time-expanded view stays a view."""
    if W.shape[2] > 1 and W.stride(2) == 0:
        return _exp_table(W[:, :, :1]).expand(W.shape)
    return (W - W.amax((-2, -1), keepdim=True)).exp()


def _log(p: torch.Tensor) -> torch.Tensor:
    return p.clamp_min(torch.finfo(p.dtype).tiny).log()


def _matvec(p: torch.Tensor, E: torch.Tensor, forward: bool) -> torch.Tensor:
    """``p @ E`` (forward) or ``E @ p`` per batch entry: p (B, Y, [T,] H), E (B or 1, Y, [T,] H, H);
    an E shared by the batch is not copied B times (einsum over the B rows at once)."""
    dims = "yt"[: p.dim() - 2]
    b = "" if E.shape[0] == 1 else "b"
    E = E[0] if E.shape[0] == 1 else E
    left, right = ("i", "j") if forward else ("j", "i")
    return torch.einsum(f"b{dims}{left},{b}{dims}ij->b{dims}{right}", p, E)


def _push(m: torch.Tensor, E: torch.Tensor, forward: bool) -> torch.Tensor:
    """Normalised ``log sum_i exp(m_i + W_ij)`` (forward) or ``log sum_j exp(W_ij + m_j)``
    (backward) for log-vectors m (..., H) and ``E = exp(W - const)`` (..., H, H)."""
    return _norm(_log(_matvec((m - m.amax(-1, keepdim=True)).exp(), E, forward)))


def _chain(local: torch.Tensor, E: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised log forward/backward messages on one chain: local (B, Y, T, H)
    node potentials, ``E = exp(W - const)`` (B, Y, T, H, H) with ``W[:, :, t]`` the edge (t-1, t).
    Scaled forward-backward: each step multiplies the normalised probability
    vector by ``E`` and by ``exp(local - max local)`` and renormalises."""
    T = local.shape[2]
    tiny = torch.finfo(local.dtype).tiny
    L = (local - local.amax(-1, keepdim=True)).exp()
    a = L[:, :, 0] / L[:, :, 0].sum(-1, keepdim=True)
    alpha = [a]
    for t in range(1, T):
        a = _matvec(a, E[:, :, t], True) * L[:, :, t]
        a = a / a.sum(-1, keepdim=True).clamp_min(tiny)
        alpha.append(a)
    b = torch.full_like(a, 1.0 / a.shape[-1])
    beta = [b] * T
    for t in range(T - 2, -1, -1):
        b = _matvec(L[:, :, t + 1] * b, E[:, :, t + 1], False)
        b = b / b.sum(-1, keepdim=True).clamp_min(tiny)
        beta[t] = b
    return _log(torch.stack(alpha, 2)), _log(torch.stack(beta, 2))


def _pair_terms(la: torch.Tensor, theta: torch.Tensor, lb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average energy ``<b, theta>`` (differentiable in theta) and entropy ``H(b)`` (detached),
    (B, Y, T'), of the pairwise beliefs ``b_ij ~ exp(la_i + theta_ij + lb_j)`` without forming
    the (B, Y, T', H, H) beliefs: la (B, Y, T', Ha), lb (B, Y, T', Hb) detached log-factors,
    theta (B or 1, Y, T', Ha, Hb). ``H(b) = log Z - sum_i b_i la_i - <b, theta> - sum_j b_j lb_j``."""
    with torch.no_grad():
        top = theta.amax((-2, -1))
        E = (theta - top[..., None, None]).exp()
        ma, mb = la.amax(-1, keepdim=True), lb.amax(-1, keepdim=True)
        ea, eb = (la - ma).exp(), (lb - mb).exp()
        Eb = _matvec(eb, E, False)
        Z = (ea * Eb).sum(-1)
        row = ea * Eb / Z[..., None]
        col = eb * _matvec(ea, E, True) / Z[..., None]
        log_z = Z.log() + ma[..., 0] + mb[..., 0] + top
    energy = (ea * _matvec(eb, E * theta, False)).sum(-1) / Z
    entropy = log_z - (row * la).sum(-1) - energy.detach() - (col * lb).sum(-1)
    return energy, entropy


def _entropy(logp: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return -(logp.exp() * logp).sum(dims)


def bethe_log_partition(unary: list[torch.Tensor], within: list[torch.Tensor],
                        edges: list[tuple[int, int, int, torch.Tensor]], lengths: torch.Tensor | None = None,
                        max_iter: int = 50, damping: float = 0.25, tol: float = 1e-5,
                        n_orders: int = 2) -> BetheResult:
    """Loopy BP and the Bethe log-partition of a multi-chain pairwise model.

    Parameters
    ----------
    unary : per view v, (B, Y, T, H_v) node log-potentials
    within : per view v, (Y, H_v, H_v) chain edge log-potentials ``(h^v_{t-1}, h^v_t)``
    edges : cross-view edge families ``(a, b, shift, P)``: edges between
        ``h^a_{t-shift}`` and ``h^b_t`` for every ``t >= shift``, P (Y, H_a, H_b)
    lengths : (B,) valid steps (padding is cut off by zeroing its potentials;
        the padded variables' exact contribution ``log H_v`` is subtracted)
    max_iter, damping, tol : at most ``max_iter`` sweeps; new log-messages are
        ``(1 - damping) * new + damping * old``; stop when no log-message moves by more than ``tol``
    n_orders : 1: sweep the views in order; 2: also in reverse order (from fresh
        messages), keeping per (sample, class) the fixed point of larger Bethe log Z.
        Strong cross-view coupling gives BP several fixed points and a one-order
        schedule can settle in a poor one (the first view's own preferred states):
        on the XOR interaction task up to 41 nats below the exact log Z

    Returns a :class:`BetheResult`. The Bethe approximation

    .. math:: \\log Z_B = \\sum_i \\langle b_i, \\theta_i\\rangle + \\sum_{ij} \\langle b_{ij}, \\theta_{ij}\\rangle
        + \\sum_{ij} H(b_{ij}) - \\sum_i (d_i - 1) H(b_i)

    is exact on trees (one view; two linked views with T = 1).

    >>> from polymodal.fusion.graphical._crf import crf_log_partition
    >>> g = torch.Generator().manual_seed(0)
    >>> u, w = torch.randn(2, 1, 6, 3, generator=g), torch.randn(1, 3, 3, generator=g)
    >>> bool(torch.allclose(bethe_log_partition([u], [w], []).log_z, crf_log_partition(u, w), atol=1e-5))
    True
    """
    B, Y, T = unary[0].shape[:3]
    V = len(unary)
    dev = unary[0].device
    valid = torch.ones(B, T, dtype=unary[0].dtype, device=dev) if lengths is None else \
        (torch.arange(T, device=dev)[None, :] < torch.as_tensor(lengths, device=dev)[:, None]).to(unary[0].dtype)
    vmask = valid[:, None, :, None]
    ragged = bool((valid < 1).any())

    def table(w: torch.Tensor) -> torch.Tensor:  # (Y, Ha, Hb) -> (B or 1, Y, T, Ha, Hb)
        if ragged:  # per-sample copies with the padded steps' edges zeroed
            return w[None, :, None] * valid[:, None, :, None, None]
        return w[None, :, None].expand(1, w.shape[0], T, w.shape[1], w.shape[2])  # a view: no copies

    u = [un * vmask for un in unary] if ragged else list(unary)          # (B, Y, T, H)
    W = [table(w) for w in within]
    P = [(a, b, s, table(p)) for a, b, s, p in edges]
    sizes = [un.shape[-1] for un in unary]

    with torch.no_grad():
        ud = [x.detach() for x in u]
        Wd = [x.detach() for x in W]
        Pd = [(a, b, s, p.detach()) for a, b, s, p in P]
        EW = [_exp_table(w) for w in Wd]
        EP = [_exp_table(p) for _, _, _, p in Pd]

        def incoming(v: int, to_b, to_a) -> torch.Tensor:
            c = torch.zeros_like(ud[v])
            for k, (a, b, s, _) in enumerate(Pd):
                if b == v:
                    c = c + to_b[k]
                if a == v:
                    c = c + (to_a[k] if s == 0 else torch.cat([to_a[k][:, :, s:], torch.zeros_like(c[:, :, :s])], 2))
            return c

        def view_beliefs(v: int, to_b, to_a):
            local = ud[v] + incoming(v, to_b, to_a)
            alpha, beta = _chain(local, EW[v])
            return local, alpha, beta, _norm(alpha + beta)

        def sweeps(order: list[int]):
            to_b = [ud[0].new_zeros(B, Y, T, sizes[b]) for _, b, _, _ in Pd]
            to_a = [ud[0].new_zeros(B, Y, T, sizes[a]) for a, _, _, _ in Pd]
            n_iter, delta = 0, 0.0
            for n_iter in range(1, max_iter + 1):
                delta = 0.0
                for v in order:
                    bel = view_beliefs(v, to_b, to_a)[3]
                    for k, (a, b, s, _) in enumerate(Pd):
                        if a == v:
                            new = _push(_shift(bel, s) - to_a[k], EP[k], True)
                            store = to_b
                        elif b == v:
                            new = _push(bel - to_b[k], EP[k], False)
                            store = to_a
                        else:
                            continue
                        if s:
                            new[:, :, :s] = 0.0
                        upd = (1.0 - damping) * new + damping * store[k]
                        upd = _norm(upd) if not s else torch.cat([upd[:, :, :s], _norm(upd[:, :, s:])], 2)
                        delta = max(delta, float((upd - store[k]).abs().max()))
                        store[k] = upd
                if delta < tol:
                    break
            return to_b, to_a, n_iter, delta

        def terms(to_b, to_a):
            """Node beliefs, the two log-factors of every pairwise belief
            b_ij ~ exp(la_i + theta_ij + lb_j) (never formed: see _pair_terms),
            and the node part of the Bethe entropy, - sum_i (d_i - 1) H(b_i)."""
            nodes, pairs = [], []
            for v in range(V):
                local, alpha, beta, bel = view_beliefs(v, to_b, to_a)
                nodes.append(bel)
                if T > 1:
                    pairs.append((alpha[:, :, :-1], W[v], 1, (local + beta)[:, :, 1:]))
            for k, (a, b, s, _) in enumerate(Pd):
                if T > s:
                    pairs.append(((_shift(nodes[a], s) - to_a[k])[:, :, s:], P[k][3], s,
                                  (nodes[b] - to_b[k])[:, :, s:]))
            entropy = ud[0].new_zeros(B, Y)
            steps = torch.arange(T, device=dev)
            for v in range(V):
                deg = (steps >= 1).to(entropy.dtype) + (steps <= T - 2).to(entropy.dtype)
                for a, b, s, _ in Pd:
                    if a == v:
                        deg = deg + (steps + s <= T - 1).to(entropy.dtype)
                    if b == v:
                        deg = deg + (steps >= s).to(entropy.dtype)
                entropy = entropy - ((deg - 1.0) * _entropy(nodes[v], (-1,))).sum(-1)
            n_pad = (T - valid.sum(1))[:, None]
            return nodes, pairs, entropy - n_pad * sum(math.log(h) for h in sizes)

        def value(nodes, pairs, entropy, unary):
            """Bethe log Z: the average energy (differentiable in ``unary`` and the pairs' theta when
            called with autograd on; beliefs held fixed) plus the entropy."""
            out = entropy + sum((nodes[v].exp() * unary[v]).sum((-2, -1)) for v in range(V))
            for la, theta, s, lb in pairs:  # (slice theta here, so that it stays differentiable)
                e, h = _pair_terms(la, theta[:, :, s:], lb)
                out = out + e.sum(-1) + h.sum(-1)
            return out

        # Strongly coupled potentials give BP several fixed points, and the
        # Gauss-Seidel schedule settles in the one the first view prefers on its
        # own. Run the sweeps in both view orders and keep, per (sample, class),
        # the fixed point of larger Bethe log Z (lower Bethe free energy: the
        # Bethe approximation is its minimum; Yedidia, Freeman & Weiss 2005).
        orders = [list(range(V))] + ([list(range(V))[::-1]] if n_orders > 1 and V > 1 and Pd else [])
        runs = [sweeps(o) for o in orders]
        to_b, to_a, n_iter, delta = runs[0]
        if len(runs) > 1:
            best = value(*terms(to_b, to_a), ud)
            for rb, ra, ni, de in runs[1:]:
                val = value(*terms(rb, ra), ud)
                pick = (val > best)[:, :, None, None]
                to_b = [torch.where(pick, x, y) for x, y in zip(rb, to_b)]
                to_a = [torch.where(pick, x, y) for x, y in zip(ra, to_a)]
                best, n_iter, delta = torch.maximum(val, best), max(n_iter, ni), max(delta, de)
        nodes, pairs, entropy = terms(to_b, to_a)

    # with autograd on: the average energy is differentiable in the potentials, beliefs held fixed
    return BetheResult(value(nodes, pairs, entropy, u), [n.exp() * vmask for n in nodes], n_iter, delta)
