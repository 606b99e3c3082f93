r"""`DigitsCNN`: a small convolutional network for scikit-learn's 8×8 digits.

    x (N, 1, 8, 8) → conv1 3×3 → relu → pool1 2×2 → (N, c₁, 4, 4)
                   → conv2 3×3 → relu → pool2 2×2 → (N, c₂, 2, 2)
                   → flatten → fc → logits (N, 10)

Each convolution is the lecture's `a_k = W_k ⋆ h_{k−1} + b_k` with one kernel shared by all
positions (padding 1 keeps the image size); pooling halves it. The last layer is the
lecture's dense `a_L = W_L h + b_L` on the flattened features. Every layer is a named child
module, so a diagram collapsed by module reads ``conv1 · Conv2d(1→16, 3×3)``.
"""

from __future__ import annotations

from minigrad import nn
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["DigitsCNN"]


class DigitsCNN(nn.Module):
    r"""conv → relu → pool, twice, then linear: (N, 1, 8, 8) images → (N, 10) logits.

    Args:
        channels: output channels of the two convolutions, (c₁, c₂).
        n_classes: the number of logits.
        size: the images' height and width (a multiple of 4).
        dtype: the parameters' floating dtype (float32 by default).
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), n_classes: int = 10,
                 size: int = 8, dtype: DTypeLike = None) -> None:
        super().__init__()
        if size % 4:
            raise ValueError(f"DigitsCNN: size must be a multiple of 4 (two 2×2 poolings), "
                             f"got {size}")
        c1, c2 = channels
        self.channels = (c1, c2)
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, dtype=dtype)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, dtype=dtype)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c2 * (size // 4) ** 2, n_classes, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        h = self.pool1(self.relu1(self.conv1(x)))
        h = self.pool2(self.relu2(self.conv2(h)))
        out: Tensor = self.fc(self.flatten(h))
        return out

    def describe(self) -> str:
        return f"DigitsCNN({self.channels[0]}, {self.channels[1]})"
