"""Which boxes between the walls of a band make a row (idreader.grid_bands).

Digits as tall as their box add walls inside the boxes, so the candidate boxes of a band
(first wall, last wall, x, width) include pieces of boxes. The lists below were measured
in the ID row of pages of the 2000-page accuracy benchmark (bench_accuracy.py, seed 2024)
where the old rule, the longest chain of boxes of one width, took pieces for the row.
"""

from __future__ import annotations

import numpy as np
import pytest

from idreader.grid_bands import _join_row_pieces, _longest_chain, find_box_rows

# Page 1741: eight joined boxes of 79002558, cut by the strokes of the 7, 9, 0 and 2
# into pieces of one width at irregular places: ten pieces outnumbered the eight boxes.
IRREGULAR = [
    (0, 1, 281, 18), (0, 2, 281, 28), (0, 3, 281, 50), (1, 3, 300, 31), (1, 4, 300, 39),
    (1, 5, 300, 49), (2, 3, 311, 20), (2, 4, 311, 28), (2, 5, 311, 38), (3, 5, 332, 17),
    (3, 6, 332, 37), (3, 7, 332, 50), (3, 8, 332, 56), (4, 6, 341, 28), (4, 7, 341, 41),
    (4, 8, 341, 47), (5, 6, 350, 19), (5, 7, 350, 32), (5, 8, 350, 38), (5, 9, 350, 49),
    (6, 8, 371, 17), (6, 9, 371, 28), (6, 10, 371, 49), (7, 9, 383, 16), (7, 10, 383, 37),
    (7, 11, 383, 47), (8, 10, 389, 31), (8, 11, 389, 41), (8, 12, 389, 52), (9, 10, 401, 19),
    (9, 11, 401, 29), (9, 12, 401, 40), (10, 12, 421, 20), (10, 13, 421, 39),
    (10, 14, 421, 52), (11, 13, 431, 29), (11, 14, 431, 42), (12, 13, 442, 18),
    (12, 14, 442, 31), (12, 15, 442, 48), (13, 15, 462, 28), (13, 16, 462, 47),
    (14, 15, 474, 16), (14, 16, 474, 35), (14, 17, 474, 46), (15, 16, 492, 17),
    (15, 17, 492, 28),
]  # fmt: skip


def _candidates(walls: list[tuple[int, int]], height: float) -> list[tuple[int, int, int, int]]:
    """Every box between two walls (start, end) that band_cells would try."""
    boxes = []
    for i, (_, end) in enumerate(walls):
        for j in range(i + 1, min(len(walls), i + 7)):
            width = walls[j][0] - end
            if width > 2.2 * height:
                break
            if width >= 0.45 * height:
                boxes.append((i, j, end, width))
    return boxes


# Eight joined boxes 29 wide; the stems of six digits centred in their boxes cut those
# into even halves: twelve evenly spaced narrow pieces.
_RULED = [(31 * i, 31 * i + 2) for i in range(9)]
_STEMS = [(31 * i + 16, 31 * i + 18) for i in range(2, 8)]
HALVES = _candidates(sorted(_RULED + _STEMS), 28.0)


@pytest.mark.parametrize(
    ("boxes", "height", "row"),
    [
        (IRREGULAR, 27.55, [281, 311, 341, 371, 401, 431, 462, 492]),
        (HALVES, 28.0, [2, 33, 64, 95, 126, 157, 188, 219]),
    ],
    ids=["pieces-at-irregular-places", "centred-stems-halve-boxes"],
)
def test_digit_strokes_do_not_cut_the_row(boxes, height, row):
    chain = _longest_chain(boxes, height)
    assert [x for _, _, x, _ in chain] == row
    assert all(28 <= width <= 29 for *_, width in chain)


def test_evenly_spaced_boxes_chain_past_a_piece():
    # four joined boxes 20 wide (walls 2 wide); a stroke cuts the second box into a
    # 9-wide piece, which must neither join the row nor break it
    boxes = [(0, 1, 10, 20), (1, 3, 32, 20), (1, 2, 32, 9), (2, 3, 43, 9), (3, 4, 54, 20),
             (4, 5, 76, 20)]  # fmt: skip
    assert [x for _, _, x, _ in _longest_chain(boxes, 20.0)] == [10, 32, 54, 76]


def test_a_lone_box_is_a_chain_of_one():
    assert _longest_chain([(0, 1, 5, 20)], 20.0) == [(0, 1, 5, 20)]
    assert _longest_chain([], 20.0) == []


def _table_ink(*, worn: tuple[int, int] = (0, 0), stem: bool = False) -> np.ndarray:
    """Ink of an A4 page at 100 dpi: a table row of 8 joined boxes 31 pixels apart.

    The table's rules run across the page at y 260, 300, 332 and 372; its ruled lines
    at x 60 and 457 and the first box's left wall at x 209 run from the row above to
    the row below. ``worn`` erases rows of that wall; ``stem`` adds a letter's stem
    one box further left (in the label cell): in two pieces across most of the row (a
    worn wall as far as the row's pitch can tell), but not past its rules.
    """
    ink = np.zeros((1169, 827), np.uint8)
    for y in (260, 300, 332, 372):
        ink[y : y + 2, 60:460] = 255
    for x in (60, 209, 457):
        ink[260:374, x : x + 2] = 255
    for k in range(1, 8):
        ink[300:334, 209 + 31 * k : 211 + 31 * k] = 255
    ink[worn[0] : worn[1], 209:211] = 0
    if stem:
        ink[303:311, 178:180] = ink[318:328, 178:180] = 255
    return ink


@pytest.mark.parametrize(
    ("worn", "stem"), [((302, 316), False), ((0, 0), True)], ids=["worn-ruling", "letter-stem"]
)
def test_a_table_row_goes_on_to_a_ruling_but_not_to_a_letter(worn, stem):
    # regression (robustness suite, "broken lines (20 %)", seed 14, page 98, and seed
    # 12, page 22): the first box's left wall, a line of the table, was worn away over
    # half the row, so the row began at the second box; past that box's solid wall it
    # did not go on (a worn wall there may be a letter's stem in the label cell), and
    # a 7-digit ID was read, unflagged with no ID length given. A line that goes on past
    # both rules is the table's; a letter's stem stays between them.
    rows = find_box_rows(_table_ink(worn=worn, stem=stem))
    assert len(rows) == 1
    assert len(rows[0]) == 8 and rows[0][0, 0] == pytest.approx(211.0, abs=1.0)


def test_a_letter_stem_a_box_before_the_row_is_not_a_wall():
    # regression (robustness suite, "perspective 1 %", seed 13, page 18, and six more
    # table pages at seeds 13 to 18): the "b" of "Student number" stood in the label
    # cell a box's width before the first wall, unbroken over four fifths of the row:
    # enough to count as a wall, so the row began with a ninth box in the label cell.
    # A wall is solid or meets a rule, even worn; the stem stops short of both rules.
    ink = _table_ink()
    ink[305:329, 178:180] = 255
    (row,) = find_box_rows(ink)
    assert len(row) == 8 and row[0, 0] == pytest.approx(211.0, abs=1.0)


def test_digit_bases_lined_up_above_the_bottom_rule_do_not_split_the_row():
    # regression (robustness suite, seed 20, page 20, in 20 of its 27 rows, clean
    # included): the flat bases of heavy digits (two 2s, a 5) in a row of 4 joined boxes
    # lay at one height a few pixels above the bottom rule, from wall to wall: taken for
    # a table rule between two stacked rows, it left only a band too low for square
    # boxes, and the page had no grid. No row of boxes fits between it and the rule.
    ink = np.zeros((1169, 827), np.uint8)
    for y in (260, 291):
        ink[y : y + 2, 213:343] = 255
    for x in (213, 245, 276, 307, 341):
        ink[260:293, x : x + 2] = 255
    for x0, x1 in ((217, 243), (243, 274), (280, 305), (310, 337)):
        ink[281:284, x0:x1] = 255
    ink[266:281, 240:243] = ink[266:281, 300:303] = 255  # the strokes the bases end
    heights = [row[:, 3].tolist() for row in find_box_rows(ink) if len(row) == 4]
    assert [28.0] * 4 in heights


def _row(
    x0: float, n: int, *, pitch: float = 41.0, y: float = 262.0, w: float = 35.0
) -> np.ndarray:
    return np.array([[x0 + pitch * k, y, w, 28.0] for k in range(n)])


def test_pieces_of_one_row_are_joined():
    # A faint row broken in two by digits over its rules: two bands, two rows that
    # share a box (or lie a pitch apart), of one height, box size and pitch.
    first, rest = _row(213.0, 4), _row(336.0, 11)
    (joined,) = _join_row_pieces([rest, first])
    np.testing.assert_allclose(joined[:, 0], 213.0 + 41.0 * np.arange(14))
    (apart,) = _join_row_pieces([_row(213.0, 3), _row(336.0, 11)])
    assert len(apart) == 14
    # another row: lower down, of other boxes, or further on than a pitch
    for other in (_row(336.0, 11, y=300.0), _row(336.0, 11, w=25.0), _row(418.0, 9)):
        assert [len(r) for r in _join_row_pieces([first, other])] == [4, len(other)]
