"""Printed text and pen clutter of a synthetic exam cover (see :mod:`idreader.synth`)."""

from __future__ import annotations

import numpy as np

from .synth_draw import Canvas, Geometry, draw_text
from .synth_ink import draw_stroke

_TITLES = (
    "Midterm examination",
    "Final examination",
    "Midterm test 2",
    "Term test",
    "Final exam - Part A",
)
_COURSES = ("MATH 101", "PHYS 120", "CHEM 210", "STAT 231", "ECON 102", "CS 135", "BIOL 112")
_ABOVE = (
    "Write your student number in the boxes below, one digit per box.",
    "Use a dark pen. Do not write outside the boxes.",
    "Do not open this booklet until you are told to begin.",
    "Calculators and notes are not permitted.",
)
_BELOW = (
    "This examination has 12 pages including this cover.",
    "Answer all questions in the spaces provided.",
    "Show your work: answers without justification receive no credit.",
    "Time allowed: 90 minutes.",
    "Check that your booklet is complete before you begin.",
)


def draw_cover_text(
    canvas: Canvas,
    geometry: Geometry,
    *,
    rng: np.random.Generator,
    page_size: tuple[float, float],
) -> None:
    """Title, course line and instructions, kept clear of the ID area."""
    height = page_size[1]
    margin = 18.0
    top, bottom = geometry.area[1], geometry.area[3]
    title = _TITLES[rng.integers(len(_TITLES))]
    term = ("Fall", "Winter", "Spring")[rng.integers(3)]
    course = f"{_COURSES[rng.integers(len(_COURSES))]}  -  {term} 2026"
    y = 20.0
    for text, size in ((title, 6.0), (course, 4.0)):
        if y < top - 3.0:
            draw_text(canvas, text, margin, y, size)
        y += size + 4.0
    for text in _ABOVE:
        if y > top - 4.0:
            break
        draw_text(canvas, text, margin, y, 3.0)
        y += 5.5
    y = bottom + 12.0
    for text in _BELOW[: 3 + rng.integers(3)]:
        if y > height - 70.0:
            break
        draw_text(canvas, text, margin, y, 3.0)
        y += 5.5


def draw_clutter(
    canvas: Canvas,
    geometry: Geometry,
    specks: int,
    stray_marks: int,
    *,
    rng: np.random.Generator,
) -> None:
    """Dark specks near the ID grid and short pen strokes near (never inside) it."""
    x0, y0, x1, y1 = geometry.grid_box
    box = y1 - y0
    for _ in range(specks):
        x, y = rng.uniform(x0 - box, x1 + box), rng.uniform(y0 - box, y1 + box)
        radius = rng.uniform(0.08, 0.3)
        angle = rng.uniform(0, 2 * np.pi, 6)
        ring = np.stack([x + radius * np.cos(angle), y + radius * np.sin(angle)], 1)
        draw_stroke(canvas, ring, radius, int(rng.integers(0, 80)))
    for _ in range(stray_marks):
        for _attempt in range(20):
            points = _stroke_near(geometry.grid_box, rng)
            inside = (
                (points[:, 0] > x0 - 0.5)
                & (points[:, 0] < x1 + 0.5)
                & (points[:, 1] > y0 - 0.5)
                & (points[:, 1] < y1 + 0.5)
            )
            if not inside.any():
                draw_stroke(canvas, points, rng.uniform(0.3, 0.6), int(rng.integers(0, 70)))
                break


def _stroke_near(
    grid_box: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """A wobbly 3..10 mm stroke starting within two boxes above, below or right of the grid."""
    x0, y0, x1, y1 = grid_box
    box = y1 - y0
    side = rng.integers(3)
    if side == 0:
        start = (rng.uniform(x0, x1), rng.uniform(y0 - 2 * box, y0 - 0.3 * box))
    elif side == 1:
        start = (rng.uniform(x0, x1), rng.uniform(y1 + 0.3 * box, y1 + 2 * box))
    else:
        start = (rng.uniform(x1 + 0.3 * box, x1 + 2 * box), rng.uniform(y0, y1))
    n = int(rng.integers(3, 6))
    steps = rng.normal(0, 1, (n - 1, 2))
    steps *= rng.uniform(3, 10) / max(np.linalg.norm(steps, axis=1).sum(), 1e-6)
    return np.vstack([start, start + np.cumsum(steps, axis=0)])
