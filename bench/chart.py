"""A small SVG line chart, written with the standard library only (no plotting dependency).

chart.panels([...]) -> SVG text. Each panel: a title, x categories (drawn evenly spaced),
a log-scale y axis, and one line per series with a dot and the value at each point.
"""

import math
from xml.sax.saxutils import escape

COLORS = ["#c0392b", "#2471a3", "#239b56", "#b9770e", "#7d3c98", "#5d6d7e", "#17a589"]
DASHES = ["", "6,3", "2,3", "8,3,2,3", "4,4", "1,2", "10,4"]


def _fmt(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _panel(p, x0, y0, w, h):
    """One panel at (x0, y0) of size w x h. p: {title, xlabel, ylabel, xs, series: [(name, [y or None])]}"""
    out = []
    left, right, top, bottom = 70, 210, 30, 45
    pw, ph = w - left - right, h - top - bottom
    values = [v for _, ys in p["series"] for v in ys if v]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 1
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 10
    if hi <= lo:
        hi = lo * 10

    def ypos(v):
        return y0 + top + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    xs = p["xs"]

    def xpos(i):
        return x0 + left + (pw * (i + 0.5) / len(xs))

    out.append(f'<text x="{x0 + left + pw / 2}" y="{y0 + 18}" text-anchor="middle" '
               f'font-size="14" font-weight="bold">{escape(p["title"])}</text>')
    out.append(f'<rect x="{x0 + left}" y="{y0 + top}" width="{pw}" height="{ph}" '
               f'fill="none" stroke="#888"/>')
    decade = lo
    while decade <= hi * 1.0001:
        for m in (1, 2, 5):
            v = decade * m
            if lo <= v <= hi:
                y = ypos(v)
                out.append(f'<line x1="{x0 + left}" x2="{x0 + left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                           f'stroke="#ddd" stroke-width="{1 if m == 1 else 0.5}"/>')
                out.append(f'<text x="{x0 + left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                           f'font-size="11">{_fmt(v)}</text>')
        decade *= 10
    for i, x in enumerate(xs):
        out.append(f'<text x="{xpos(i):.1f}" y="{y0 + top + ph + 18}" text-anchor="middle" '
                   f'font-size="12">{escape(str(x))}</text>')
    out.append(f'<text x="{x0 + left + pw / 2}" y="{y0 + h - 6}" text-anchor="middle" '
               f'font-size="12">{escape(p["xlabel"])}</text>')
    out.append(f'<text transform="translate({x0 + 16},{y0 + top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle" font-size="12">{escape(p["ylabel"])}</text>')
    for k, (name, ys) in enumerate(p["series"]):
        color, dash = COLORS[k % len(COLORS)], DASHES[k % len(DASHES)]
        pts = [(xpos(i), ypos(v)) for i, v in enumerate(ys) if v]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>')
        ly = y0 + top + 10 + k * 20
        lx = x0 + left + pw + 14
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="2" stroke-dasharray="{dash}"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12">{escape(name)}</text>')
    return out


def panels(ps, subtitle=""):
    w, h = 760, 360
    total_h = h * len(ps) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{total_h}" '
           f'font-family="sans-serif" viewBox="0 0 {w} {total_h}">',
           f'<rect width="{w}" height="{total_h}" fill="white"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="13" fill="#444">'
           f'{escape(subtitle)}</text>']
    for i, p in enumerate(ps):
        out += _panel(p, 0, 40 + i * h, w, h)
    out.append("</svg>")
    return "\n".join(out) + "\n"
