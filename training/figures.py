"""Pictures for the evaluation report, drawn with OpenCV (matplotlib is not a dependency)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .data import CLASSES


def draw_confusion(matrix: np.ndarray, path: Path, *, rows: int = 10) -> None:
    """Save a confusion matrix (first ``rows`` true classes x 11 predicted) as a PNG."""
    cell, margin = 48, 60
    h, w = margin + rows * cell + 10, margin + 11 * cell + 10
    img = np.full((h, w, 3), 255, np.uint8)
    off_max = max(1, int((matrix[:rows] * (1 - np.eye(11, dtype=np.int64)[:rows])).max()))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for j, name in enumerate(CLASSES):
        cv2.putText(img, name[:5], (margin + j * cell + 4, 40), font, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "pred ->", (margin, 16), font, 0.45, (0, 0, 0), 1)
    for i in range(rows):
        cv2.putText(img, CLASSES[i], (22, margin + i * cell + 30), font, 0.6, (0, 0, 0), 1)
        for j in range(11):
            n = int(matrix[i, j])
            x, y = margin + j * cell, margin + i * cell
            if i == j:
                color = (200, 235, 200)
            else:
                shade = int(255 - 200 * np.sqrt(n / off_max)) if n else 255
                color = (shade, shade, 255)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), color, -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (160, 160, 160), 1)
            if n:
                cv2.putText(img, str(n), (x + 4, y + 30), font, 0.42, (0, 0, 0), 1)
    cv2.imwrite(str(path), img)


def save_gallery(images: np.ndarray, path: Path, *, per_row: int = 20) -> None:
    """Save float ``(n, 28, 28)`` cells as one PNG, 3x enlarged, grey separators."""
    if len(images) == 0:
        return
    rows = -(-len(images) // per_row)
    tiles = np.full((rows * per_row, 30, 30), 0.4, np.float32)
    tiles[: len(images), 1:29, 1:29] = images
    grid = tiles.reshape(rows, per_row, 30, 30).transpose(0, 2, 1, 3).reshape(rows * 30, -1)
    big = cv2.resize(
        (grid * 255).astype(np.uint8), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST
    )
    cv2.imwrite(str(path), big)
