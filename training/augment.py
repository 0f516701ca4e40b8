"""Batch augmentation with torch ops (no torchvision): affine warps, stroke width, wall
fragments, blur, noise.

All functions take and return float32 tensors ``(N, 1, 28, 28)`` in [0, 1] and never
modify their input; all but :func:`edge_fragments` take wider images too (the pair
model's views).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; probabilities are per image."""

    rotation_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.12)
    shift_px: float = 2.5
    shear: float = 0.2
    p_affine: float = 0.9
    p_thick: float = 0.15
    p_thin: float = 0.15
    p_blur: float = 0.15
    p_noise: float = 0.3
    noise_sigma: float = 0.08
    p_fragment: float = 0.0


def random_affine(
    x: torch.Tensor, *, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rotate, scale, shear and shift each image by its own random amount.

    Examples
    --------
    >>> random_affine(torch.zeros(3, 1, 28, 28), cfg=AugmentConfig()).shape
    torch.Size([3, 1, 28, 28])
    """
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = u(-cfg.rotation_deg, cfg.rotation_deg) * math.pi / 180
    scale = u(*cfg.scale)
    shear = u(-cfg.shear, cfg.shear)
    shift = u(-cfg.shift_px, cfg.shift_px), u(-cfg.shift_px, cfg.shift_px)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # theta maps output coords to input coords (normalised to [-1, 1] along each side,
    # so a wide image's rows and columns are scaled apart: aspect = rows / columns).
    rows, cols = x.shape[-2:]
    aspect = rows / cols
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = (-sin + shear * cos) * aspect
    theta[:, 1, 0] = sin / aspect
    theta[:, 1, 1] = cos + shear * sin
    theta[:, 0, 2] = shift[0] * 2 / cols
    theta[:, 1, 2] = shift[1] * 2 / rows
    keep = torch.rand(n, generator=generator) >= cfg.p_affine
    theta[keep] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


def stroke_width(
    x: torch.Tensor, *, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Thicken (grey dilation) or thin (grey erosion) a random subset of images."""
    n = x.shape[0]
    r = torch.rand(n, generator=generator)
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    # A 2x2 erosion thins less brutally than 3x3; pad right/bottom to keep 28x28.
    thin = -F.max_pool2d(F.pad(-x, (0, 1, 0, 1), value=0.0), 2, stride=1)
    # Blend so that dilation is partial (pen a bit wider, not twice as wide).
    thick = 0.5 * (x + thick)
    out = _where(r < cfg.p_thick, thick, x)
    return _where((r >= cfg.p_thick) & (r < cfg.p_thick + cfg.p_thin), thin, out)


def edge_fragments(
    x: torch.Tensor, *, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw a thin straight line along one edge of a random subset of images.

    It is what a box wall can leave beside a digit after cleaning, drawn like
    :func:`training.blanks.draw_edge_fragment`: 1-2 pixels thick, up to 2 pixels from the
    edge, over a random stretch of it, with ink 0.3-1.

    Examples
    --------
    >>> g, cfg = torch.Generator().manual_seed(0), AugmentConfig(p_fragment=1.0)
    >>> y = edge_fragments(torch.zeros(64, 1, 28, 28), cfg=cfg, generator=g)
    >>> float(y.amax()) >= 0.3, bool(y[:, :, 4:24, 4:24].eq(0).all())  # ink only at the edges
    (True, True)
    """
    n = x.shape[0]
    pick = torch.rand(n, generator=generator) < cfg.p_fragment
    if not pick.any():
        return x

    def ints(lo: int, hi: int) -> torch.Tensor:
        return torch.randint(lo, hi, (n, 1), generator=generator)

    pos, thickness, side = ints(0, 3), ints(1, 3), ints(0, 4).view(-1)
    ends = torch.sort(torch.cat([ints(0, 28), ints(0, 28)], dim=1), dim=1).values
    value = torch.rand(n, generator=generator) * 0.7 + 0.3
    idx = torch.arange(28)[None]
    across = (idx >= pos) & (idx < pos + thickness)
    along = (idx >= ends[:, :1]) & (idx < ends[:, 1:])
    top = across[:, :, None] & along[:, None, :]  # (n, rows, cols): a line along the top
    sides = torch.stack([top, top.flip(1), top.transpose(1, 2), top.transpose(1, 2).flip(2)])
    line = sides[side, torch.arange(n)] & pick[:, None, None]
    return torch.maximum(x, (line * value[:, None, None])[:, None])


def blur_and_noise(
    x: torch.Tensor, *, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian blur (sigma 0.6-1.0) and additive Gaussian noise on random subsets."""
    n, channels = x.shape[:2]
    sigma = float(torch.empty(1).uniform_(0.6, 1.0, generator=generator))
    k = torch.exp(-(torch.arange(-2, 3, dtype=torch.float32) ** 2) / (2 * sigma**2))
    # each channel blurred alone (views of two channels: the pair model's)
    k = (k / k.sum()).view(1, 1, 1, 5).expand(channels, 1, 1, 5)
    along = F.conv2d(x, k, padding=(0, 2), groups=channels)
    blurred = F.conv2d(along, k.transpose(2, 3), padding=(2, 0), groups=channels)
    out = _where(torch.rand(n, generator=generator) < cfg.p_blur, blurred, x)
    noise = torch.randn(x.shape, generator=generator) * cfg.noise_sigma
    noisy = (out + noise * torch.rand(n, 1, 1, 1, generator=generator)).clamp(0.0, 1.0)
    return _where(torch.rand(n, generator=generator) < cfg.p_noise, noisy, out)


def augment(
    x: torch.Tensor, *, cfg: AugmentConfig | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The full training augmentation: affine, stroke width, wall fragments, blur, noise.

    Parameters
    ----------
    x : torch.Tensor
        float32 ``(N, 1, 28, 28)`` in [0, 1].

    Examples
    --------
    >>> y = augment(torch.rand(4, 1, 28, 28))
    >>> y.shape, bool((y >= 0).all() and (y <= 1).all())
    (torch.Size([4, 1, 28, 28]), True)
    """
    cfg = cfg or AugmentConfig()
    x = random_affine(x, cfg=cfg, generator=generator)
    x = stroke_width(x, cfg=cfg, generator=generator)
    x = edge_fragments(x, cfg=cfg, generator=generator)
    return blur_and_noise(x, cfg=cfg, generator=generator).clamp(0.0, 1.0)
