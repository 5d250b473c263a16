"""GroupDRO (Sagawa et al., ICLR 2020, Algorithm 1): closed forms, gradient, errors, and that it raises the
worst group's accuracy where average training gives it up."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ConfigError, ShapeError
from polymodal.fusion import GroupDRO


def test_one_step_is_the_exponentiated_gradient_update_and_the_weighted_sum():
    dro = GroupDRO(3, eta=0.5)
    losses = torch.tensor([1.0, 3.0, 2.0, 0.5])
    groups = torch.tensor([0, 0, 1, 2])
    out = dro(losses, groups)
    means = torch.tensor([2.0, 2.0, 0.5])
    q = torch.exp(0.5 * means) / torch.exp(0.5 * means).sum()  # from uniform weights
    torch.testing.assert_close(dro.weights, q)
    torch.testing.assert_close(out, (q * means).sum())
    out = dro(torch.tensor([4.0]), torch.tensor([2]))  # only group 2 seen: only its weight moves
    q2 = q * torch.tensor([1.0, 1.0, float(np.exp(0.5 * 4.0))])
    torch.testing.assert_close(dro.weights, q2 / q2.sum())
    torch.testing.assert_close(out, dro.weights[2] * 4.0)


def test_eta_zero_is_the_mean_of_group_means_and_a_matching_reference_keeps_weights_uniform():
    losses, groups = torch.tensor([1.0, 2.0, 6.0]), torch.tensor([0, 0, 1])
    torch.testing.assert_close(GroupDRO(2, eta=0.0)(losses, groups), torch.tensor((1.5 + 6.0) / 2))
    dro = GroupDRO(2, eta=3.0, reference=[1.5, 6.0])  # each group exactly at its reference: no move
    dro(losses, groups)
    torch.testing.assert_close(dro.weights, torch.tensor([0.5, 0.5]))


def test_gradient_of_a_sample_is_its_groups_weight_over_the_groups_count():
    dro = GroupDRO(2, eta=1.0)
    losses = torch.tensor([1.0, 2.0, 5.0], requires_grad=True)
    dro(losses, torch.tensor([0, 0, 1])).backward()
    q = dro.weights
    torch.testing.assert_close(losses.grad, torch.stack([q[0] / 2, q[0] / 2, q[1]]))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_groups=0), ConfigError, "n_groups >= 1"),
    (dict(n_groups=2.5), ConfigError, "n_groups >= 1"),
    (dict(n_groups=2, eta=-0.1), ConfigError, "eta must be a finite number >= 0"),
    (dict(n_groups=2, eta=float("nan")), ConfigError, "eta must be a finite number >= 0"),
    (dict(n_groups=2, reference=[0.0]), ShapeError, "reference must be 2 finite numbers"),
    (dict(n_groups=2, reference=[0.0, float("inf")]), ShapeError, "reference must be 2 finite numbers"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        GroupDRO(**kwargs)


@pytest.mark.parametrize("losses, groups, message", [
    (torch.ones(2, 2), torch.zeros(2, dtype=torch.long), r"per-sample losses of shape \(N,\)"),
    (torch.ones(0), torch.zeros(0, dtype=torch.long), r"per-sample losses of shape \(N,\)"),
    (torch.ones(3), torch.zeros(2, dtype=torch.long), "integer groups of the losses' shape"),
    (torch.ones(2), torch.zeros(2), "integer groups of the losses' shape"),
    (torch.ones(2), torch.tensor([0, 2]), r"groups must lie in \[0, 1\], got \[0, 2\]"),
    (torch.ones(2), torch.tensor([-1, 0]), r"groups must lie in \[0, 1\], got \[-1, 0\]"),
    (torch.tensor([1.0, float("nan")]), torch.tensor([0, 1]), "non-finite losses"),
])
def test_bad_batches_are_refused(losses, groups, message):
    with pytest.raises(ShapeError, match=message):
        GroupDRO(2)(losses, groups)


def test_it_raises_the_worst_groups_accuracy_where_the_average_gives_it_up():
    """Sagawa et al.'s setting: a spurious feature agrees with the label in the large group and disagrees in
    a small one (1 in 10); a weaker core feature always agrees. Average training leans on the spurious
    feature and fails the small group; group DRO learns the core feature."""
    g = torch.Generator().manual_seed(0)
    n = 2000
    y = torch.randint(0, 2, (n,), generator=g)
    sign = 2.0 * y - 1.0
    minority = torch.arange(n) % 10 == 0
    core = sign + 1.0 * torch.randn(n, generator=g)
    spurious = torch.where(minority, -sign, sign) + 0.3 * torch.randn(n, generator=g)
    x, groups = torch.stack([core, spurious], 1), minority.long()

    def train(eta):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        dro = GroupDRO(2, eta=eta) if eta is not None else None
        for _ in range(300):
            losses = F.cross_entropy(model(x), y, reduction="none")
            loss = dro(losses, groups) if dro is not None else losses.mean()  # None: average training
            opt.zero_grad()
            loss.backward()
            opt.step()
        right = model(x).argmax(1) == y
        return float(right[minority].float().mean()), float(right[~minority].float().mean())

    erm, robust = train(None), train(0.1)
    assert min(robust) > min(erm) + 0.2
    assert min(robust) > 0.6
