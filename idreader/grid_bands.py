"""Box interiors from ruled lines: horizontal rules pair into bands, walls split bands.

Works on a deskewed ink mask (uint8, ink = 255) at the working scale of
:mod:`idreader.grid_boxes`. A row of ID boxes is a band between two horizontal rules
(long lines, or collinear dashes for boxes with gaps between them) cut by vertical walls
that span the band's full height. Measuring walls as full-height column runs makes the
search indifferent to handwriting that touches or crosses a wall (a digit never spans
the whole band in several places at a regular pitch) and to broken or faint lines
(gaps are bridged before measuring).
"""

from __future__ import annotations

import math
from itertools import pairwise
from statistics import median

import cv2
import numpy as np

from .grid_rules import Rule, horizontal_rules, scale

#: A column is a wall when at least this fraction of the band's rows are ink there,
#: after bridging small vertical gaps, and RAW_FRACTION before (or, for a worn line,
#: half of them spread over the whole band).
WALL_FRACTION, RAW_FRACTION = 0.7, 0.75
#: Raw ink over at least this fraction of the band is a solid ruled line.
SOLID_FRACTION = 0.97
#: A box needs its top and bottom rule over at least this fraction of its width.
RULE_COVER = 0.6
#: Rows need at least this many boxes to be reported as a candidate grid.
MIN_ROW = 3
#: Band heights searched for rows of boxes, in units of :func:`grid_rules.scale`
#: (about 3 to 20 mm on an A4 page).
BAND_HEIGHT = (1.2, 8.0)
#: A band's height may change by this fraction along it (rules not quite parallel).
PARALLEL = 0.15
#: Width / height of a roughly square box, as ID boxes are (a marks table's are wider).
SQUARE = (0.6, 1.5)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Start (inclusive) and end (exclusive) of each run of True."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _rule_present(mask: np.ndarray, rule: Rule, x0: int, x1: int) -> np.ndarray:
    """Bool per column x0..x1: does ``mask`` have pixels on the rule's rows there?"""
    half = math.ceil(rule.thickness / 2 + rule.drift / 2) + 1
    ya, yb = max(0, int(round(rule.y)) - half), int(round(rule.y)) + half + 1
    return mask[ya:yb, x0:x1].any(axis=0)


def _sums(flags: np.ndarray) -> np.ndarray:
    """Cumulative counts with a leading 0: ``s[b] - s[a]`` counts flags[a:b]."""
    return np.concatenate([[0], np.cumsum(flags)])


def _column_fill(mask: np.ndarray, ya: int, yb: int, lo: int, hi: int) -> np.ndarray:
    """Fraction of rows ya..yb that are ink (255) in each column lo..hi of ``mask``.

    ``mean(axis=0) / 255`` of the slice, to the last bit, but several times faster.
    """
    return mask[ya:yb, lo:hi].sum(axis=0, dtype=np.int32) / (yb - ya) / 255.0


def _spans_band(strip: np.ndarray, fill: float = 0.5, span: float = 0.9) -> bool:
    """Does a worn wall reach (``span``) from top to bottom of the band, unlike a
    letter's stem, with ink on at least ``fill`` of its rows?"""
    rows = np.flatnonzero(strip.any(axis=1))
    filled = strip.any(axis=1).mean() if len(rows) else 0.0
    return len(rows) > 0 and rows[-1] - rows[0] + 1 >= span * len(strip) and filled >= fill


def _band_walls(
    walls: tuple[np.ndarray, np.ndarray, np.ndarray], ya: int, yb: int, lo: int, hi: int
) -> list[tuple[int, int]]:
    """Walls (start, end) spanning rows ya..yb in columns lo..hi.

    Handwriting along or across a wall widens its run; the ruled line is where the ink
    spans (nearly) the whole band, or comes closest to it for a worn line. Each such
    core is a candidate wall: a stroke as tall as the box is told from the line later
    by the regular spacing of the walls.
    """
    plain_ink, raw_ink, bridged_ink = walls
    runs = _runs(_column_fill(bridged_ink, ya + 1, yb, lo, hi) >= WALL_FRACTION)
    if not runs:
        return []  # most bands (lines of text, say): nothing spans them
    raw_all = _column_fill(raw_ink, ya + 1, yb, lo, hi)
    plain_all = _column_fill(plain_ink, ya + 1, yb, lo, hi)
    # the fullest column of every run at once (a band has ten or so)
    edges = np.ravel(runs)
    raw_top = np.maximum.reduceat(np.append(raw_all, 0.0), edges)[::2].tolist()
    plain_top = np.maximum.reduceat(np.append(plain_all, 0.0), edges)[::2].tolist()
    need = np.full(len(plain_all), np.inf)  # fill that makes a core, per column
    found = []
    for (a, b), raw, top in zip(runs, raw_top, plain_top, strict=True):
        if raw < RAW_FRACTION and not _spans_band(raw_ink[ya + 1 : yb, lo + a : lo + b]):
            continue
        if top >= RAW_FRACTION:
            need[a:b] = min(SOLID_FRACTION, 0.95 * top)
        else:  # a slanted line fills no single column: undo the widening instead
            cores = _runs(raw_all[a:b] >= min(SOLID_FRACTION, 0.95 * raw))
            found += [(lo + a + c + 1, lo + a + max(c + 2, d - 1)) for c, d in cores]
    # runs are apart, so are their cores
    found += [(lo + c, lo + d) for c, d in _runs(plain_all >= need)]
    return sorted(found)


def _parallel(top: Rule, bottom: Rule, length: int, height: int) -> bool:
    """Do two rules bound boxes of one height along ``length`` columns?

    The two rules of a row of boxes are parallel, under perspective too. A "rule"
    chained from handwriting strokes at different heights in neighbouring boxes runs
    at an angle, and may even cross the real rule: the boxes under it would shrink or
    grow along the row.
    """
    return abs(top.slope - bottom.slope) * length <= max(2.0, PARALLEL * height)


def _crossing_rules(
    lines: np.ndarray, top: Rule, bottom: Rule, between: list[Rule], lo: int, hi: int
) -> list[np.ndarray]:
    """Presence sums of rules that run across the whole band (stacked table rows).

    Pieces of a worn rule at one height count together; handwriting lined up with a
    neighbour's gives runs that stop short of the band's ends, or thick ones, or ones
    not parallel to the band's rules, or ones merged into them, which do not count.
    Nor does a run closer to either rule than the lowest row of boxes is tall
    (:data:`BAND_HEIGHT`): it divides no two rows. The flat bases of heavy digits can
    line up across a row from wall to wall, just above its bottom rule.
    """
    x0, x1 = max(top.x0, bottom.x0), min(top.x1, bottom.x1)
    thickest = 1.5 * max(top.thickness, bottom.thickness) + 1
    slack = 0.3 * (bottom.y - top.y)

    def clear_of(r: Rule, edge: Rule) -> bool:
        return abs(r.y - edge.y) > (r.thickness + edge.thickness) / 2 + 1

    def depth(r: Rule) -> float:
        """Rows below the top rule, at the piece's middle (free of the band's slope)."""
        return r.y - top.at((r.x0 + r.x1) / 2)

    lowest = BAND_HEIGHT[0] * scale(lines)

    def divides(r: Rule) -> bool:
        """Whether a row of boxes fits on either side of the piece."""
        return min(depth(r), bottom.at((r.x0 + r.x1) / 2) - r.y) >= lowest

    # Pieces of one worn line lie within half a line's width of each other; handwriting
    # strokes in neighbouring boxes lie a few rows apart.
    tol = max(top.thickness, bottom.thickness) / 2 + 0.5
    out = []
    rest = sorted(
        (
            r
            for r in between
            # a short piece's slope is uncertain by about two rows over its length
            if abs(r.slope - (top.slope + bottom.slope) / 2) <= 0.004 + 2 / max(r.x1 - r.x0, 1)
            and r.thickness <= thickest
            and clear_of(r, top)
            and clear_of(r, bottom)
            and divides(r)
        ),
        key=depth,
    )
    while rest:
        n = sum(depth(r) <= depth(rest[0]) + tol for r in rest)
        level, rest = rest[:n], rest[n:]
        span = sum(max(0, min(r.x1, x1) - max(r.x0, x0)) for r in level)
        # a worn rule loses some of its length but still runs from end to end
        reach = min(r.x0 for r in level) <= x0 + slack and max(r.x1 for r in level) >= x1 - slack
        if span >= 0.7 * (x1 - x0) and reach:
            present = np.any([_rule_present(lines, r, lo, hi) for r in level], axis=0)
            out.append(_sums(present))
    return out


def band_cells(
    walls: tuple[np.ndarray, np.ndarray, np.ndarray],
    lines: np.ndarray,
    top: Rule,
    bottom: Rule,
    between: list[Rule],
) -> list[tuple[float, float, float, float]]:
    """Box interiors ``x, y, w, h`` in the band between two rules (may be empty).

    ``walls`` is the ink mask as is, widened by one pixel on each side (so a slightly
    slanted wall still fills whole columns), and widened with vertical gaps bridged.
    A wall fills
    WALL_FRACTION of the band once bridged (broken lines) and RAW_FRACTION as is (text
    next to the grid reaches the rules only through bridging). ``between`` are the rules
    that lie between ``top`` and ``bottom``: a box has none across it, so two stacked
    table rows are not one tall box. Any two walls may bound a box (a tall digit can
    look like an extra wall); the longest chain of boxes of one width, each under both
    rules, wins.
    """
    x0, x1 = max(top.x0, bottom.x0), min(top.x1, bottom.x1)
    ya = math.ceil(top.y + (top.thickness + top.drift) / 2)
    yb = math.floor(bottom.y - (bottom.thickness + bottom.drift) / 2)
    height = yb - ya + 1
    # search the union of the rules: a worn rule may lose its end piece
    lo = max(0, min(top.x0, bottom.x0) - 2)
    hi = min(lines.shape[1], max(top.x1, bottom.x1) + 2)
    if height < 4 or x1 - x0 < 2.5 * height or not _parallel(top, bottom, hi - lo, height):
        return []
    found = _band_walls(walls, ya, yb, lo, hi)
    if len(found) < 4:
        return []
    # cover from the ink on the rules' rows: a worn rule loses pieces of its straight
    # segments where a digit touches it, but not its ink
    top_sum = _sums(_rule_present(walls[1], top, lo, hi))
    bottom_sum = _sums(_rule_present(walls[1], bottom, lo, hi))
    # Bridging may close the space between two separate boxes; in the raw ink it is a
    # run of columns between two walls with neither rule and little ink (a digit may
    # stray into it), and no box contains one.
    plain = walls[0]
    open_cols = (
        (_column_fill(plain, ya + 1, yb, lo, hi) < 127 / 255)
        & ~_rule_present(plain, top, lo, hi)
        & ~_rule_present(plain, bottom, lo, hi)
    )
    ends, starts = np.array([e for _, e in found]), np.array([s for s, _ in found])
    open_runs = [
        (lo + a, lo + b)
        for a, b in _runs(open_cols)
        if b - a >= max(3, height // 8)
        and np.abs(ends - lo - a).min() <= 3
        and np.abs(starts - lo - b).min() <= 3
    ]
    across = _crossing_rules(lines, top, bottom, between, lo, hi)

    def is_box(x: int, width: int, worn: bool = False) -> bool:
        """Under both rules, no rule across it, no open space inside it.

        A ``worn`` box (one placed by the row's pitch, :func:`_extend`) needs its rules
        over 40 % of its width only, may reach a quarter of its width past the ends of
        both rules (they can lose their end pieces together), and may hold an open
        run: where both worn rules break at the same columns, that is no space between
        two boxes.
        """
        a, b = x - lo, x + width - lo
        reach = width // 4 if worn else 0
        if not (-reach <= a < b <= hi - lo + reach):
            return False
        a, b = max(a, 0), min(b, hi - lo)
        cover = 0.4 if worn else RULE_COVER
        return (
            min(top_sum[b] - top_sum[a], bottom_sum[b] - bottom_sum[a]) >= cover * width
            and not any(c[b] - c[a] > 0.5 * width for c in across)
            and (worn or not any(x <= ra and rb <= x + width for ra, rb in open_runs))
        )

    boxes = []  # (first wall, last wall, x, width)
    for i, (_, end) in enumerate(found):
        for j in range(i + 1, min(len(found), i + 7)):
            width = found[j][0] - end
            if width > 2.2 * height:
                break
            if width >= 0.45 * height and is_box(end, width):
                boxes.append((i, j, end, width))

    def worn_wall(x: int, span: float = 0.7) -> bool:
        """A wall too worn for _band_walls, where the row's pitch puts one."""
        return _spans_band(walls[1][ya + 1 : yb, max(0, x - 2) : x + 3], fill=0.35, span=span)

    def solid_wall(x: int) -> bool:
        strip = walls[0][ya + 1 : yb, max(0, x - 2) : x + 3]
        return strip.size > 0 and float(strip.mean(axis=0).max()) / 255.0 >= SOLID_FRACTION

    def ruling(x: int) -> bool:
        """A table's ruled line where the row's pitch puts a wall: it goes on past both
        rules (no letter does), however worn between them."""
        cols = slice(max(0, x - 2), x + 3)
        reach = max(3, height // 3)
        above = math.floor(top.at(x) - (top.thickness + top.drift) / 2) - 1
        below = math.ceil(bottom.at(x) + (bottom.thickness + bottom.drift) / 2) + 1
        up = walls[0][max(0, above - reach) : above, cols]
        down = walls[0][below : below + reach, cols]
        # a third of a box on either side, ink on half of it (a worn line has gaps too)
        past = all(b.shape[0] == reach and b.any(axis=1).mean() >= 0.5 for b in (up, down))
        return past and _spans_band(walls[1][ya + 1 : yb, cols], fill=0.35, span=0.0)

    # the search rows above stop short of a sloping rule's drift; the boxes do not
    box_height = bottom.y - top.y - (top.thickness + bottom.thickness) / 2

    def meets_a_rule(x: int) -> bool:
        """Ink at ``x`` meets the top or the bottom rule, as a wall does and a letter's
        stem does not."""
        rows = walls[1][ya + 1 : yb, max(0, x - 2) : x + 3].any(axis=1)
        return len(rows) > 0 and bool(rows[0] or rows[-1])

    row = _longest_chain(boxes, box_height)
    row = _trim([(x, w) for _, _, x, w in row], solid_wall, meets_a_rule)
    row = _extend(row, worn_wall, solid_wall, ruling, is_box)
    cells = []
    for x, w in row:
        # top and bottom from the rules at this box (they may slope a little)
        y = top.at(x + w / 2) + top.thickness / 2 + 0.5
        cells.append((float(x), y, float(w), bottom.at(x + w / 2) - bottom.thickness / 2 - 0.5 - y))
    return cells


def _trim(row: list[tuple[int, int]], solid_wall, meets_a_rule) -> list[tuple[int, int]]:
    """Drop end boxes whose outer wall is a letter's stem.

    The label cell's text ("Student number") stands in the row's band, and a stem as
    tall as three quarters of the band counts as a wall (:func:`_band_walls`: a worn
    line may fill no more). When a stem happens to lie a box's width before the first
    wall, the label cell's end passes for one more box. A stem is not solid and stops
    short of both rules; a wall meets its rules, and a worn one keeps at least one of
    its ends in all but a few cases (requiring both ends, or ink from rule to rule,
    cut worn rows short).
    """

    def stem(x: int) -> bool:
        return not solid_wall(x) and not meets_a_rule(x)

    while len(row) > MIN_ROW and stem(row[0][0] - 1):
        row = row[1:]
    while len(row) > MIN_ROW and stem(row[-1][0] + row[-1][1]):
        row = row[:-1]
    return row


def _extend(
    row: list[tuple[int, int]], worn_wall, solid_wall, ruling, is_box
) -> list[tuple[int, int]]:
    """Continue a row of boxes at its regular pitch past walls too worn to be found.

    A further box needs ``worn_wall`` where its far wall should be and must pass
    ``is_box`` as a worn box; the row stops where its rules end. In a row of joined
    boxes, the row goes on to a worn wall unless it ends at a solid line of the table
    it sits in (``ruling``: one that goes on past both rules, as the label cell's wall
    does; past it, a "worn wall" is a letter's stem). A wall between two boxes ends at
    the rules, and the rules end with the row, so past one a worn wall is a box's
    (wear is a property of the scan, and a digit can cover the wall the row's pitch
    put the end at). A far wall across 90 % of the band, which no letter has, or one
    that is a line of the table (however worn between the rules) will do too. Boxes that
    stand apart each have their own walls, some worn and some not: there the further
    box needs its near wall too, however solid the row's end.
    """
    if len(row) < MIN_ROW:
        return row
    pitch = round(median(b[0] - a[0] for a, b in pairwise(row)))
    width = round(median(w for _, w in row))
    # joined boxes are a wall apart (a tenth of a box or less), separate ones a gap more
    apart = pitch - width > max(4, 0.2 * width)

    def goes_on(end: int, near: int, far: int, x: int) -> bool:
        """Another box at ``x`` after the row's wall at ``end``, its walls at near, far."""
        if apart:
            walled = worn_wall(near) and worn_wall(far)
        else:
            # past a table's line, a worn wall may be a letter's stem in the label cell
            walled = worn_wall(far) and not (solid_wall(end) and ruling(end))
            walled = walled or worn_wall(far, 0.9) or ruling(far)
        return walled and is_box(x, width, worn=True)

    while goes_on(
        row[-1][0] + row[-1][1], row[-1][0] + pitch - 1, row[-1][0] + pitch + width,
        row[-1][0] + pitch,
    ):  # fmt: skip
        row.append((row[-1][0] + pitch, width))
    while goes_on(row[0][0] - 1, row[0][0] - pitch + width, row[0][0] - pitch - 1,
                  row[0][0] - pitch):  # fmt: skip
        row.insert(0, (row[0][0] - pitch, width))
    return row


def _longest_chain(
    boxes: list[tuple[int, int, int, int]], height: float
) -> list[tuple[int, int, int, int]]:
    """Most boxes of one width in a row, evenly spaced, each after the previous one's end.

    Tried once per distinct width (within 10 %); consecutive boxes may share a wall
    (joined boxes) or leave a gap of under 0.8 widths (separate boxes), and the gap
    stays the same along the row: digit strokes as tall as the box also cut boxes of
    one width, but at irregular places. A row of at least MIN_ROW square-ish boxes
    (width / height in SQUARE) beats any longer row of other boxes: digits sit centred
    in their boxes, so a run of tall digits cuts every box into two even halves.
    """
    best: list[tuple[int, int, int, int]] = []
    best_key = (False, 0)
    # Widest first: of two equally long chains the narrower one splits boxes at a digit
    # stroke as tall as the box.
    for ref in sorted({w for *_, w in boxes}, reverse=True):
        square = SQUARE[0] <= ref / height <= SQUARE[1]
        same = [b for b in boxes if abs(b[3] - ref) <= 0.1 * ref + 1]
        if (square, len(same)) <= best_key:
            continue
        chain = _even_chain(same, ref)
        key = (square and len(chain) >= MIN_ROW, len(chain))
        if key > best_key:
            best, best_key = chain, key
    return best


def _even_chain(
    boxes: list[tuple[int, int, int, int]], ref: int
) -> list[tuple[int, int, int, int]]:
    """Longest chain of boxes (sorted by left edge) whose gaps agree within ``tol``.

    Dynamic programming over consecutive pairs: the chain ending with boxes p, k extends
    the longest one ending with q, p whose gap agrees with the gap from p to k, so a
    gap that drifts slowly (perspective) still chains.
    """
    tol = 0.1 * ref + 2  # wall cores found a pixel wider or narrower at each end
    # (p, k) -> boxes in the longest chain ending with p, k; gap p..k; the pair before
    chains: dict[tuple[int, int], tuple[int, int, tuple[int, int] | None]] = {}
    ending: list[list[int]] = [[] for _ in boxes]  # the p of every pair (p, k) per k
    for k, (i, _, x, _) in enumerate(boxes):
        # boxes come sorted by their left edge: look back only over one box and gap
        for p in range(k - 1, -1, -1):
            pj, px, pw = boxes[p][1], boxes[p][2], boxes[p][3]
            if x - px > 2.2 * ref:
                break
            gap = x - (px + pw)
            if pj > i or gap > 0.8 * ref:
                continue
            count, before = 2, None
            for q in ending[p]:
                n, g, _ = chains[q, p]
                if abs(g - gap) <= tol and n + 1 > count:
                    count, before = n + 1, (q, p)
            chains[p, k] = (count, gap, before)
            ending[k].append(p)
    if not chains:
        return boxes[:1]
    last = max(chains, key=lambda c: chains[c][0])
    order = [last[1]]
    pair: tuple[int, int] | None = last
    while pair is not None:
        order.append(pair[0])
        pair = chains[pair][2]
    return [boxes[b] for b in reversed(order)]


def find_box_rows(ink: np.ndarray) -> list[np.ndarray]:
    """Rows of box interiors in a deskewed ink mask: float (n, 4) ``x, y, w, h`` each.

    Every pair of rules between about 4 and 25 mm apart (on an A4 page) that overlap
    by at least 2.5 times that distance is searched for walls; each band gives at most
    one row, of at least MIN_ROW boxes, left to right.
    """
    k = scale(ink)
    rules, lines = horizontal_rules(ink)
    widen = np.ones((1, 3), np.uint8)
    bridge = np.ones((max(3, (3 * k) // 5), 1), np.uint8)
    walls = (
        ink,
        cv2.dilate(ink, widen),
        cv2.dilate(cv2.morphologyEx(ink, cv2.MORPH_CLOSE, bridge), widen),
    )
    rows = []
    for i, top in enumerate(rules):
        for j in range(i + 1, len(rules)):
            gap = rules[j].y - top.y
            if gap > BAND_HEIGHT[1] * k:
                break
            if gap < BAND_HEIGHT[0] * k:
                continue
            cells = band_cells(walls, lines, top, rules[j], rules[i + 1 : j])
            if len(cells) >= MIN_ROW:
                rows.append(np.asarray(cells, np.float64))
    return _join_row_pieces(rows)


def _join_row_pieces(rows: list[np.ndarray]) -> list[np.ndarray]:
    """Rows with the pieces of one row joined: boxes ``x, y, w, h`` (n, 4) each.

    A digit that covers a stretch of a faint or worn rule breaks it in two, and each
    piece pairs with the other rule into a band of its own: the row comes out as two
    rows, which share a box or lie one pitch apart, at the same height and with boxes
    of the same size and pitch (within a tenth). Only the longer piece would be read,
    an ID without its first digits. Such pieces are one row.
    """
    rows = sorted(rows, key=lambda r: r[0, 0])
    out: list[np.ndarray] = []
    for row in rows:
        for k, done in enumerate(out):
            if _continues(done, row):
                ahead = row[row[:, 0] > done[-1, 0] + 0.5 * done[-1, 2]]
                out[k] = np.concatenate([done, ahead])
                break
        else:
            out.append(row)
    return out


def _continues(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether row ``b`` (boxes ``x, y, w, h``) takes row ``a`` further right: same
    height, box size and pitch within a tenth, its first box ``a``'s last one or the
    one a pitch after it."""
    if min(len(a), len(b)) < 2:
        return False
    size = a[:, 2:].mean(axis=0)
    pitch = float(np.diff(a[:, 0]).mean())
    same = (
        np.all(np.abs(b[:, 2:].mean(axis=0) - size) <= 0.1 * size)
        and abs(float(np.diff(b[:, 0]).mean()) - pitch) <= 0.1 * pitch
        and abs(b[0, 1] - a[-1, 1]) <= 0.1 * size[1]
    )
    step = (b[0, 0] - a[-1, 0]) / pitch
    return bool(same and min(abs(step), abs(step - 1)) <= 0.1 and b[-1, 0] > a[-1, 0])
