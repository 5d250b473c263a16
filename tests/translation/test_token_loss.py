"""token_loss: the mean cross-entropy over non-padding tokens (equal to torch's ignore_index mean),
and an all-padding batch scores 0 with a zero gradient instead of torch's NaN."""

import torch
import torch.nn.functional as F

from polymodal.translation import token_loss


def test_equals_cross_entropy_with_ignore_index_on_mixed_padding():
    g = torch.Generator().manual_seed(0)
    for pad in (0, 3):
        logits = torch.randn(4, 7, 9, generator=g, dtype=torch.float64)
        targets = torch.randint(0, 9, (4, 7), generator=g)
        targets[0, 3:] = pad
        targets[2] = pad  # a whole padding row among real ones
        ours = token_loss(logits, targets, pad_id=pad)
        ref = F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1), ignore_index=pad)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)


def test_all_padding_batch_is_zero_with_zero_gradient_not_nan():
    logits = torch.randn(2, 5, 6, requires_grad=True)
    targets = torch.zeros(2, 5, dtype=torch.long)
    assert torch.isnan(F.cross_entropy(logits.reshape(-1, 6), targets.reshape(-1), ignore_index=0))  # torch's
    loss = token_loss(logits, targets, pad_id=0)
    loss.backward()
    assert float(loss) == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))
