"""The command line's fit plot as a self-contained SVG file, written without Matplotlib.

``nadaraya fit`` draws one figure: the fitted curve, its confidence band and
the training points. Importing Matplotlib and rasterising with Agg costs
~0.5 s, about half of a whole 1,000-row fit; this module writes the
same figure as SVG text (a vector file any browser or editor opens) in a few
milliseconds, with NumPy and the standard library only.

- Axes are linear, scaled to the data with 5 % margins, with 1-2-2.5-5 ticks.
- The curve and the band are split where a value is not finite (a band may be
  undefined where no key has weight); points with a non-finite coordinate
  are not drawn.
- Up to :data:`MAX_MARKERS` points are drawn as circles (~40 bytes each);
  more become one embedded PNG image of the same circles (a fit of 10⁶ rows
  gives a file of ~100 kB, not one element per row).
- Text (title, axis and legend labels, which come from CSV headers) is
  escaped, so any column name gives a well-formed file.
"""

from __future__ import annotations

import base64
import html
import math
import re
import struct
import zlib

import numpy as np

__all__ = ["MAX_MARKERS", "fit_plot_svg", "nice_ticks", "tick_labels"]

MAX_MARKERS = 20_000  #: more points than this are drawn as one raster image
WIDTH, HEIGHT = 560, 400  #: the figure's size in CSS pixels
FONT = 12
LINE, BAND, POINT = "#1f77b4", "#1f77b4", "#ff7f0e"  # Matplotlib's first two default colours
RADIUS = 2.6
RASTER_SCALE = 2  # raster points are drawn at twice the figure's resolution


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # characters XML 1.0 has not


def escape(text: str) -> str:
    """``text`` as SVG character data: markup escaped, characters XML cannot hold (controls) as U+FFFD."""
    return _NOT_XML.sub("\ufffd", html.escape(str(text), quote=False))


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of ``text``'s width in pixels in DejaVu Sans (digits 0.64 em, minus and plus 0.84 em)."""
    wide, narrow = sum(c in "\u2212+" for c in text), sum(c in ".,:;il1 " for c in text)
    return size * (0.64 * (len(text) - wide - narrow) + 0.84 * wide + 0.34 * narrow)


def nice_ticks(lo: float, hi: float, target: int = 8) -> tuple[np.ndarray, int]:
    """Tick values in [lo, hi] at a step of 1, 2, 2.5 or 5 times a power of ten, and the decimals they need.

    At most about ``target`` ticks (at least ``target`` / 2.5); ``lo < hi``, both finite.
    """
    raw = (hi - lo) / target
    exponent = math.floor(math.log10(raw))
    factor = next(f for f in (1, 2, 2.5, 5, 10) if f * 10.0**exponent >= raw * (1 - 1e-9))
    if factor == 10:
        factor, exponent = 1, exponent + 1
    step = factor * 10.0**exponent
    ticks = np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    decimals = max(0, -exponent + (1 if factor == 2.5 else 0))
    return ticks, decimals


def tick_labels(ticks: np.ndarray, decimals: int) -> list[str]:
    """Labels of one axis's ticks: fixed decimals while they take at most 15 digits, else significant digits.

    So timestamps print whole (``1700000200``); the second form serves steps
    below 10⁻⁴ and values too large for 15 digits.
    """
    step = abs(ticks[1] - ticks[0]) if ticks.size > 1 else 1.0
    if step >= 1e-4 and np.abs(ticks).max(initial=0.0) * 10.0**decimals < 1e15:  # every digit, 15 at most
        zero = f"{0:.{decimals}f}"
        texts = [f"{v:.{decimals}f}" for v in ticks]
        texts = [zero if t == "-" + zero else t for t in texts]
    else:  # tiny steps, huge values: the fewest significant digits that give each tick to a hundredth of a step
        slack = 0.01 * step + 4 * np.finfo(float).eps * np.abs(ticks).max(initial=0.0)  # k * step's own rounding
        for digits in range(1, 18):
            texts = ["0" if abs(v) < step * 1e-6 else f"{v:.{digits}g}" for v in ticks]
            if all(abs(float(t) - v) <= slack for t, v in zip(texts, ticks)):
                break
    return [t.replace("-", "\u2212") for t in texts]


def _axis(limits, room_for, room) -> tuple[np.ndarray, list[str]]:
    """The most ticks, up to 8, whose labels ``room_for(labels)`` fit in ``room`` pixels (long labels: fewer ticks)."""
    for target in range(8, 1, -1):
        ticks, decimals = nice_ticks(*limits, target)
        labels = tick_labels(ticks, decimals)
        if room_for(labels) <= room:
            break
    return ticks, labels


def _limits(*arrays) -> tuple[float, float]:
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if not math.isfinite(hi - lo):
        raise ValueError(f"values from {lo:g} to {hi:g} span more than float64 holds; rescale them to plot them")
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi)):  # constant up to rounding: a range around the value
        mid = 0.5 * (lo + hi)
        pad = max(0.5, 0.05 * abs(mid)) if mid != 0 else 0.5
        return mid - pad, mid + pad
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _runs(*arrays) -> list[slice]:
    """Maximal runs of indices where every array is finite."""
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2])]


def _coords(px, py) -> str:
    return " ".join(f"{a:.2f},{b:.2f}" for a, b in zip(px, py))


def _png(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA image (h, w, 4) as PNG bytes."""
    h, w, _ = rgba.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgba.reshape(h, 4 * w)], axis=1)  # filter type 0

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")


def _raster_points(px, py, box, opacity) -> str:
    """Circles of radius RADIUS at (px, py) composited at ``opacity`` each, as one embedded PNG image."""
    x0, y0, w, h = box
    s = RASTER_SCALE
    W, H = int(math.ceil(w * s)), int(math.ceil(h * s))
    ix = np.clip(((px - x0) * s).astype(np.int64), 0, W - 1)
    iy = np.clip(((py - y0) * s).astype(np.int64), 0, H - 1)
    counts = np.bincount(iy * W + ix, minlength=H * W).reshape(H, W)
    r = int(round(RADIUS * s))
    covered = np.zeros((H + 2 * r, W + 2 * r), np.int64)  # points whose disc covers each pixel
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy <= r * r:
                covered[r + dy:r + dy + H, r + dx:r + dx + W] += counts
    alpha = 1.0 - (1.0 - opacity) ** covered[r:r + H, r:r + W]
    rgba = np.empty((H, W, 4), np.uint8)
    rgba[..., :3] = [int(POINT[i:i + 2], 16) for i in (1, 3, 5)]
    rgba[..., 3] = np.round(255 * alpha).astype(np.uint8)
    data = base64.b64encode(_png(rgba)).decode("ascii")
    return (f'<image x="{x0:.2f}" y="{y0:.2f}" width="{W / s:g}" height="{H / s:g}" preserveAspectRatio="none" '
            f'href="data:image/png;base64,{data}"/>')


def fit_plot_svg(x_grid, fit, band, x_points, y_points, *, title="", xlabel="x", ylabel="y",
                 fit_label="fit", band_label="95% band") -> str:
    """The fit plot as SVG text: ``fit`` over ``x_grid`` (a dashed line), ``band`` shaded, the points as circles.

    Parameters
    ----------
    x_grid, fit : array_like, shape (m,)
        The curve, with ``x_grid`` increasing.
    band : pair of array_like of shape (m,), or None
        Lower and upper edges of the band.
    x_points, y_points : array_like, shape (n,)
    title, xlabel, ylabel, fit_label, band_label : str
    """
    xg, yf = np.asarray(x_grid, float), np.asarray(fit, float)
    xp, yp = np.asarray(x_points, float), np.asarray(y_points, float)
    keep = np.isfinite(xp) & np.isfinite(yp)
    xp, yp = xp[keep], yp[keep]
    lo, hi = (np.asarray(band[0], float), np.asarray(band[1], float)) if band is not None else (None, None)
    xlim = _limits(xg, xp)
    ylim = _limits(yf, yp, *([lo, hi] if band is not None else []))
    top, bottom = (10 + 1.6 * FONT) if title else 12, 14 + 2.6 * FONT
    yticks, ylabels = _axis(ylim, lambda labels: len(labels) * 2.2 * FONT, HEIGHT - top - bottom)
    left_y = 10 + 1.3 * FONT + max(map(text_width, ylabels), default=FONT) + 12

    def x_width(labels):  # the figure's width these labels need: side by side, the end ones half past the axes
        widest = max(map(text_width, labels))
        return len(labels) * (widest + 16) + max(14.0, widest / 2 + 6) + max(left_y, widest / 2 + 6)

    xticks, xlabels = _axis(xlim, x_width, WIDTH)
    half_x = max(map(text_width, xlabels), default=FONT) / 2 + 6  # an end x tick's label reaches past the axes
    left, right = max(left_y, half_x), max(14.0, half_x)
    box = (left, top, WIDTH - left - right, HEIGHT - top - bottom)
    x0, y0, w, h = box

    def sx(v):
        return x0 + (v - xlim[0]) / (xlim[1] - xlim[0]) * w

    def sy(v):
        return y0 + h - (v - ylim[0]) / (ylim[1] - ylim[0]) * h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<clipPath id="area"><rect x="{x0:.2f}" y="{y0:.2f}" width="{w:.2f}" height="{h:.2f}"/></clipPath>',
           '<g clip-path="url(#area)">']
    if xp.size > MAX_MARKERS:
        out.append(_raster_points(sx(xp), sy(yp), box, 0.5))
    elif xp.size:
        circles = "".join(f'<circle cx="{a:.2f}" cy="{b:.2f}" r="{RADIUS}"/>' for a, b in zip(sx(xp), sy(yp)))
        out.append(f'<g class="points" fill="{POINT}" fill-opacity="0.5">{circles}</g>')
    if band is not None:
        for run in _runs(xg, lo, hi):
            xs = xg[run]
            edge = _coords(np.concatenate([sx(xs), sx(xs[::-1])]), np.concatenate([sy(lo[run]), sy(hi[run][::-1])]))
            out.append(f'<polygon class="band" points="{edge}" fill="{BAND}" fill-opacity="0.2"/>')
    for run in _runs(xg, yf):
        out.append(f'<polyline class="fit" points="{_coords(sx(xg[run]), sy(yf[run]))}" fill="none" '
                   f'stroke="{LINE}" stroke-width="1.8" stroke-dasharray="6,3"/>')
    out.append("</g>")
    out.append(f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{w:.2f}" height="{h:.2f}" fill="none" stroke="black" stroke-width="0.8"/>')
    ticks = ['<g class="xticks" text-anchor="middle">']
    for v, text in zip(xticks, xlabels):
        px = sx(v)
        ticks.append(f'<line x1="{px:.2f}" y1="{y0 + h:.2f}" x2="{px:.2f}" y2="{y0 + h + 4:.2f}" stroke="black"/>'
                     f'<text x="{px:.2f}" y="{y0 + h + 6 + FONT:.2f}">{text}</text>')
    ticks.append('</g><g class="yticks" text-anchor="end">')
    for v, text in zip(yticks, ylabels):
        py = sy(v)
        ticks.append(f'<line x1="{x0 - 4:.2f}" y1="{py:.2f}" x2="{x0:.2f}" y2="{py:.2f}" stroke="black"/>'
                     f'<text x="{x0 - 6:.2f}" y="{py + 0.35 * FONT:.2f}">{text}</text>')
    ticks.append("</g>")
    out.extend(ticks)
    out.append(f'<text class="xlabel" x="{x0 + w / 2:.2f}" y="{HEIGHT - 10:.2f}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text class="ylabel" transform="translate({10 + FONT:.2f},{y0 + h / 2:.2f}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    if title:
        out.append(f'<text class="title" x="{x0 + w / 2:.2f}" y="{8 + 1.1 * FONT:.2f}" text-anchor="middle" '
                   f'font-size="{1.15 * FONT:.1f}">{escape(title)}</text>')
    out.append(_legend(x0 + w, y0, [("line", fit_label)] + ([("band", band_label)] if band is not None else [])
                       + [("point", f"data (n = {xp.size:,})")]))
    out.append("</svg>\n")
    return "\n".join(out)


def _legend(right, top, entries) -> str:
    width = 40 + max(text_width(label) for _, label in entries)
    x, y = right - width - 8, top + 8
    rows = [f'<g class="legend"><rect x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" height="{8 + 1.5 * FONT * len(entries):.2f}" '
            'fill="white" fill-opacity="0.85" stroke="#cccccc" rx="3"/>']
    for i, (kind, label) in enumerate(entries):
        cy = y + 4 + 1.5 * FONT * (i + 0.5)
        if kind == "line":
            rows.append(f'<line x1="{x + 6:.2f}" y1="{cy:.2f}" x2="{x + 26:.2f}" y2="{cy:.2f}" stroke="{LINE}" '
                        'stroke-width="1.8" stroke-dasharray="6,3"/>')
        elif kind == "band":
            rows.append(f'<rect x="{x + 6:.2f}" y="{cy - 5:.2f}" width="20" height="10" fill="{BAND}" fill-opacity="0.2"/>')
        else:
            rows.append(f'<circle cx="{x + 16:.2f}" cy="{cy:.2f}" r="{RADIUS}" fill="{POINT}" fill-opacity="0.5"/>')
        rows.append(f'<text x="{x + 32:.2f}" y="{cy + 0.35 * FONT:.2f}">{escape(label)}</text>')
    rows.append("</g>")
    return "".join(rows)
