"""Image encoders: LeNet-style CNN, a small residual CNN, smooth max pooling.

Convolution and pooling are torch's (:func:`torch.nn.functional.conv2d`,
``max_pool2d``); the encoders add the shape handling the engine needs: the
builder passes ``in_features`` (the flattened size), and inputs may arrive
flat ``(N, C*H*W)``, as ``(N, H, W)`` or as ``(N, C, H, W)``.

Smooth max pooling (the "soft" max of the multimodal tutorial's visual
representation part; Boureau, Ponce & LeCun, "A theoretical analysis of
feature pooling in visual recognition", ICML 2010) replaces the max over a
pooling window ``R`` by a softmax-weighted mean with temperature ``alpha``::

    y = sum_{i in R} x_i exp(alpha x_i) / sum_{j in R} exp(alpha x_j)

``alpha = 0`` is mean pooling and ``alpha -> inf`` tends to max pooling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from polymodal.core.activations import activation_module
from polymodal.errors import ConfigError, ShapeError
from polymodal.core.registry import register

__all__ = ["SmoothMaxPool2d", "smooth_max_pool2d", "ImageInput", "LeNet", "ResidualBlock", "ResNetCNN"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ConfigError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return pair  # type: ignore[return-value]


def smooth_max_pool2d(
    x: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, alpha: float = 1.0
) -> torch.Tensor:
    """Softmax-weighted pooling over ``kernel_size`` windows of ``x`` ``(N, C, H, W)``.

    ``y = sum_i x_i softmax(alpha x)_i`` over each window (no padding; windows
    that do not fit are dropped, as in ``max_pool2d``). ``alpha = 0`` gives
    ``avg_pool2d``; large ``alpha`` approaches ``max_pool2d``; negative ``alpha``
    tends to min pooling.

    >>> x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> float(smooth_max_pool2d(x, 2, alpha=0.0)), round(float(smooth_max_pool2d(x, 2, alpha=50.0)), 6)
    (1.5, 3.0)
    """
    if x.ndim != 4:
        raise ShapeError(f"smooth_max_pool2d expects x of shape (N, C, H, W), got {tuple(x.shape)}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride")
    if x.shape[2] < kh or x.shape[3] < kw:
        raise ShapeError(f"smooth_max_pool2d: input {tuple(x.shape[2:])} is smaller than kernel_size {(kh, kw)}")
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H', W', kh, kw)
    windows = windows.reshape(*windows.shape[:4], kh * kw)
    weights = torch.softmax(alpha * windows, dim=-1)
    return (weights * windows).sum(-1)


class SmoothMaxPool2d(nn.Module):
    """Layer form of :func:`smooth_max_pool2d`.

    Parameters
    ----------
    kernel_size, stride : int or (int, int)
        Window and step (``stride`` defaults to ``kernel_size``).
    alpha : float
        Temperature: 0 = mean pooling, -> inf = max pooling.
    learn_alpha : bool
        Make ``alpha`` a trainable parameter.

    >>> SmoothMaxPool2d(2, alpha=0.0)(torch.ones(1, 1, 4, 4)).shape
    torch.Size([1, 1, 2, 2])
    """

    def __init__(
        self, kernel_size: int | Sequence[int] = 2, stride: int | Sequence[int] | None = None, alpha: float = 1.0,
        learn_alpha: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride") if stride is not None else self.kernel_size
        value = torch.tensor(float(alpha))
        if learn_alpha:
            self.alpha = nn.Parameter(value)
        else:
            self.register_buffer("alpha", value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return smooth_max_pool2d(x, self.kernel_size, self.stride, self.alpha)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, alpha={float(self.alpha):g}"


class ImageInput(nn.Module):
    """Reshapes inputs to ``(N, C, H, W)`` and checks the image size.

    ``image_size`` defaults to a square ``sqrt(in_features / in_channels)``.
    Raises :class:`~polymodal.errors.ShapeError` naming expected and actual
    sizes for an image of the wrong size.
    """

    def __init__(self, in_features: int | None, in_channels: int = 1,
                 image_size: int | Sequence[int] | None = None) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"in_channels must be >= 1, got {in_channels}")
        if image_size is None:
            if in_features is None:
                raise ConfigError("give in_features or image_size")
            side = math.isqrt(max(int(in_features) // in_channels, 0))
            if side * side * in_channels != in_features:
                raise ConfigError(
                    f"in_features={in_features} is not in_channels={in_channels} x a square image; "
                    "set image_size=(H, W)"
                )
            image_size = side
        self.in_channels = int(in_channels)
        self.image_size = _pair(image_size, "image_size")
        size = self.in_channels * self.image_size[0] * self.image_size[1]
        if in_features is not None and in_features != size:
            raise ConfigError(
                f"in_features={in_features} does not match in_channels x image_size = "
                f"{self.in_channels} x {self.image_size} = {size}"
            )
        self.in_features = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, (h, w) = self.in_channels, self.image_size
        if x.ndim == 2 and x.shape[1] == self.in_features:
            return x.reshape(len(x), c, h, w)
        if x.ndim == 3 and c == 1 and tuple(x.shape[1:]) == (h, w):
            return x.unsqueeze(1)
        if x.ndim == 4 and tuple(x.shape[1:]) == (c, h, w):
            return x
        raise ShapeError(
            f"image encoder expects images of shape (N, {c}, {h}, {w}) (or flattened (N, {self.in_features})), "
            f"got {tuple(x.shape)}"
        )


_activation = activation_module


def _pool(kind: str, alpha: float) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(2)
    if kind == "avg":
        return nn.AvgPool2d(2)
    if kind == "smooth":
        return SmoothMaxPool2d(2, alpha=alpha)
    raise ConfigError(f"pool must be one of ('max', 'avg', 'smooth'), got {kind!r}")


@register("encoder", "lenet")
class LeNet(nn.Module):
    """LeNet-style CNN: ``[conv 5x5 (same) -> act -> pool 2x2] x len(channels) -> MLP``.

    LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to
    document recognition", Proc. IEEE 1998 (LeNet-5: channels (6, 16),
    hidden (120, 84)). Convolutions keep the size (padding 2); every pooling
    halves it (floor).

    Parameters
    ----------
    in_features : int
        Flattened input size ``C*H*W`` (set by the builder).
    in_channels : int
    image_size : int or (H, W), optional
        Defaults to the square implied by ``in_features``.
    channels : sequence of int
        Output channels of the convolution stages.
    hidden : sequence of int
        Fully connected layers after flattening; the last is the output
        unless ``out_features`` is given.
    out_features : int, optional
        A final linear layer of this size (no activation).
    pool : {"max", "avg", "smooth"}
    alpha : float
        Temperature of the smooth max pooling.
    activation : str
    dropout : float
        Dropout before each fully connected layer.

    >>> LeNet(784)(torch.zeros(2, 784)).shape
    torch.Size([2, 84])
    """

    def __init__(
        self, in_features: int | None = None, in_channels: int = 1, image_size: int | Sequence[int] | None = None,
        channels: Sequence[int] = (6, 16), hidden: Sequence[int] = (120, 84), out_features: int | None = None,
        pool: str = "max", alpha: float = 4.0, activation: str = "relu", dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input = ImageInput(in_features, in_channels, image_size)
        if not channels:
            raise ConfigError("channels must name at least one convolution stage")
        layers: list[nn.Module] = []
        width, (h, w) = self.input.in_channels, self.input.image_size
        for size in channels:
            if h < 2 or w < 2:
                raise ConfigError(f"image_size {self.input.image_size} is too small for {len(channels)} pooling stages")
            layers += [nn.Conv2d(width, int(size), 5, padding=2), _activation(activation), _pool(pool, alpha)]
            width, h, w = int(size), h // 2, w // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        dense: list[nn.Module] = []
        flat = width * h * w
        sizes = list(hidden) + ([out_features] if out_features is not None else [])
        if not sizes:
            raise ConfigError("LeNet needs out_features or at least one hidden layer")
        for i, size in enumerate(sizes):
            if dropout > 0:
                dense.append(nn.Dropout(dropout))
            dense.append(nn.Linear(flat, int(size)))
            if i < len(hidden):
                dense.append(_activation(activation))
            flat = int(size)
        self.classifier = nn.Sequential(*dense)
        self.in_features = self.input.in_features
        self.out_features = flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.input(x)))


class ResidualBlock(nn.Module):
    """Basic residual block (He, Zhang, Ren & Sun, "Deep residual learning for
    image recognition", CVPR 2016): ``y = act(F(x) + S(x))`` with
    ``F = conv3x3 -> BN -> act -> conv3x3 -> BN`` and ``S`` the identity, or a
    strided 1x1 convolution + BN when the shape changes.

    >>> ResidualBlock(4, 8, stride=2)(torch.zeros(1, 4, 8, 8)).shape
    torch.Size([1, 8, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act = _activation(activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(residual + self.shortcut(x))


@register("encoder", "resnet_cnn")
class ResNetCNN(nn.Module):
    """Small residual CNN: stem conv3x3 -> stages of :class:`ResidualBlock`
    (stride 2 at the start of every stage but the first) -> global average
    pooling -> optional linear layer.

    Parameters
    ----------
    in_features, in_channels, image_size : as :class:`LeNet`.
    widths : sequence of int
        Channels of each stage (the stem has ``widths[0]``).
    blocks : int
        Residual blocks per stage.
    out_features : int, optional
        Final linear layer; otherwise the output is ``widths[-1]``.

    >>> ResNetCNN(784, widths=(8, 16))(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self, in_features: int | None = None, in_channels: int = 1, image_size: int | Sequence[int] | None = None,
        widths: Sequence[int] = (16, 32, 64), blocks: int = 1, out_features: int | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if not widths or blocks < 1:
            raise ConfigError(f"widths must be non-empty and blocks >= 1, got widths={widths!r}, blocks={blocks}")
        self.input = ImageInput(in_features, in_channels, image_size)
        layers: list[nn.Module] = [
            nn.Conv2d(self.input.in_channels, int(widths[0]), 3, padding=1, bias=False),
            nn.BatchNorm2d(int(widths[0])), _activation(activation),
        ]
        width = int(widths[0])
        for stage, size in enumerate(widths):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(ResidualBlock(width, int(size), stride, activation))
                width = int(size)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width, out_features) if out_features is not None else None
        self.in_features = self.input.in_features
        self.out_features = out_features if out_features is not None else width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(self.input(x)).mean(dim=(2, 3))
        return self.fc(z) if self.fc is not None else z
