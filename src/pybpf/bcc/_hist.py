"""Text histograms in BCC's output format (``print_log2_hist``, ``print_linear_hist``).

The layout (column widths, the ``|****|`` bar of 40 characters, halved when
buckets go past 2^32, ``+`` when a count overflows the scale) is BCC's, so
tools and their users see the same output.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional, Sequence

__all__ = ["LOG2_INDEX_MAX", "LINEAR_INDEX_MAX", "stars", "log2_hist_lines", "linear_hist_lines", "json_hist"]

STARS_MAX = 40
LOG2_INDEX_MAX = 65
LINEAR_INDEX_MAX = 1025


def stars(val: int, val_max: int, width: int) -> str:
    """The bar for ``val`` on a scale where ``val_max`` fills ``width`` characters."""
    if val_max <= 0:
        return ""
    n = 0
    while n < width and n <= width * val / val_max - 1:
        n += 1
    text = "*" * n
    if val > val_max:
        text = text[:-1] + "+"
    return text


def _extent(vals: Sequence[int]) -> tuple[int, int]:
    idx_max, val_max = -1, 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        if v > val_max:
            val_max = v
    return idx_max, val_max


def log2_hist_lines(vals: Sequence[int], val_type: str = "value", strip_leading_zero: Optional[bool] = None
                    ) -> list[str]:
    """Lines of a log2 histogram: slot ``i`` counts values in [2^(i-1), 2^i - 1] (slot 1 is [0, 1])."""
    idx_max, val_max = _extent(vals)
    if idx_max <= 32:
        header = "     %-19s : count     distribution"
        body = "%10d -> %-10d : %-8d |%-*s|"
        width = STARS_MAX
    else:
        header = "               %-29s : count     distribution"
        body = "%20d -> %-20d : %-8d |%-*s|"
        width = STARS_MAX // 2
    out = []
    if idx_max > 0:
        out.append(header % val_type)
    skipping = bool(strip_leading_zero)
    for i in range(1, idx_max + 1):
        low, high = (1 << i) >> 1, (1 << i) - 1
        if low == high:
            low -= 1
        v = vals[i]
        if skipping and not v:
            continue
        skipping = False
        out.append(body % (low, high, v, width, stars(v, val_max, width)))
    return out


def linear_hist_lines(vals: Sequence[int], val_type: str = "value", strip_leading_zero: Optional[bool] = None
                      ) -> list[str]:
    """Lines of a linear histogram: one row per integer bucket from 0 to the last non-empty one."""
    idx_max, val_max = _extent(vals)
    out = []
    if idx_max >= 0:
        out.append("     %-13s : count     distribution" % val_type)
    skipping = bool(strip_leading_zero)
    for i in range(0, idx_max + 1):
        v = vals[i]
        if skipping and not v:
            continue
        skipping = False
        out.append("        %-10d : %-8d |%-*s|" % (i, v, STARS_MAX, stars(v, val_max, STARS_MAX)))
    return out


def json_hist(vals: Sequence[int], val_type: str, section_bucket: Optional[tuple[str, Any]] = None) -> dict:
    """BCC's ``print_json_hist`` record for one log2 histogram."""
    idx_max, _ = _extent(vals)
    data = []
    prev, index = 0, 1
    for i in range(1, max(idx_max, 0) + 1):
        index *= 2
        data.append({"interval-start": prev, "interval-end": index - 1, "count": int(vals[i])})
        prev = index
    h: dict[str, Any] = {"ts": time.strftime("%Y-%m-%d %H:%M:%S"), "val_type": val_type, "data": data}
    if section_bucket:
        h[section_bucket[0]] = section_bucket[1]
    return h


def print_sections(sections: list[tuple[Any, list[int]]], lines_fn: Callable[..., list[str]], val_type: str,
                   section_header: str, section_print_fn: Optional[Callable[[Any], Any]],
                   strip_leading_zero: Optional[bool], write: Callable[[str], Any]) -> None:
    for bucket, vals in sections:
        label = section_print_fn(bucket) if section_print_fn else repr(bucket)
        write("\n%s = %s" % (section_header, label))
        for ln in lines_fn(vals, val_type, strip_leading_zero):
            write(ln)


def dumps(obj: Any) -> str:
    return json.dumps(obj)
