"""Inline SVG charts: no script, no external asset, readable when printed.

:func:`timeline_svg` draws a run's events over time (sent, processed,
dead-lettered, not yet accounted for) as step lines, with the fault windows
shaded behind them and labelled.

Events not yet accounted for are in flight until the run settles: while a fault
holds them that line is as high as the sent line, so it is drawn first, thin,
grey and dashed, under the others. Only what is still unaccounted for at the
last point is a loss: that count is marked in red at the end of the line, and
nothing is red in a run that lost nothing.
"""

from collections.abc import Mapping, Sequence
from html import escape

from chaoskit.report.model import FaultWindow

__all__ = ["SERIES", "timeline_svg"]

#: (timeline key, legend label, colour)
SERIES: tuple[tuple[str, str, str], ...] = (
    ("sent", "sent", "#2563eb"),
    ("processed", "processed", "#16a34a"),
    ("dead_lettered", "dead-lettered", "#d97706"),
    ("lost", "not yet accounted for (in flight)", "#6b7280"),
)
#: The series drawn under the others, dashed: it equals "sent" while a fault holds events.
_IN_FLIGHT = "lost"
_LOST_COLOUR = "#dc2626"

_W, _H = 760, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 18, 58


def _nice_max(value: float) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return int(top)
    return int(value)


def timeline_svg(
    points: Sequence[Mapping[str, float]],
    windows: Sequence[FaultWindow] = (),
    title: str = "events over time",
) -> str:
    """Return an ``<svg>`` element drawing the timeline, or ``""`` with no points."""
    if not points:
        return ""
    t0 = min([float(points[0]["t"]), *(w.start for w in windows)])
    t1 = max([float(points[-1]["t"]), *(w.end for w in windows)])
    span = max(t1 - t0, 1e-9)
    top = _nice_max(max(float(p.get(k, 0)) for p in points for k, _, _ in SERIES))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h - v / top * plot_h

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    labels: list[str] = []
    for row, w in enumerate(windows):
        x0, x1 = x(w.start), x(max(w.end, w.start))
        parts.append(
            f'<rect class="fault" x="{x0:.1f}" y="{_TOP}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{plot_h}" fill="#fca5a5" fill-opacity="0.28"><title>{escape(w.label)}'
            f"</title></rect>"
        )
        short = w.label if len(w.label) <= 60 else w.label[:59] + "…"
        labels.append(
            # One line per window (windows that start together must not print over each
            # other), drawn over the grid and lines with a white halo, so it stays legible.
            f'<text x="{x0 + 4:.1f}" y="{_TOP + 12 + 13 * row}" font-size="11" fill="#991b1b" '
            f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(short)}</text>'
        )
    for i in range(5):
        value = top * i / 4
        gy = y(value)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" '
            f'stroke="#e5e7eb" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{gy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#6b7280">{value:g}</text>'
        )
    for i in range(5):
        t = t0 + span * i / 4
        parts.append(
            f'<text x="{x(t):.1f}" y="{_TOP + plot_h + 16}" font-size="11" text-anchor="middle" '
            f'fill="#6b7280">+{t - t0:.0f}s</text>'
        )
    # The in-flight line first, so that sent, processed and dead-lettered stay visible over it.
    for key, _label, colour in sorted(SERIES, key=lambda series: series[0] != _IN_FLIGHT):
        coords: list[str] = []
        previous: float | None = None
        for p in points:
            px, py = x(float(p["t"])), y(float(p.get(key, 0)))
            if previous is not None:
                coords.append(f"{px:.1f},{previous:.1f}")
            coords.append(f"{px:.1f},{py:.1f}")
            previous = py
        style = (
            ' stroke-dasharray="5 3" stroke-width="1.5"'
            if key == _IN_FLIGHT
            else ' stroke-width="2"'
        )
        parts.append(
            f'<polyline class="series-{key}" fill="none" stroke="{colour}"{style} '
            f'stroke-linejoin="round" points="{" ".join(coords)}"/>'
        )
    lost = float(points[-1].get(_IN_FLIGHT, 0))
    if lost > 0:
        ex, ey = x(float(points[-1]["t"])), y(lost)
        parts.append(
            f'<circle class="lost-at-end" cx="{ex:.1f}" cy="{ey:.1f}" r="4" fill="{_LOST_COLOUR}">'
            f"<title>{lost:g} not accounted for at the end</title></circle>"
        )
        parts.append(
            f'<text x="{ex - 6:.1f}" y="{ey - 7:.1f}" font-size="11" text-anchor="end" '
            f'fill="{_LOST_COLOUR}">{lost:g} lost</text>'
        )
    parts.extend(labels)
    lx: float = _LEFT
    ly = _H - 14
    for _key, label, colour in SERIES:
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="4" fill="{colour}"/>')
        parts.append(
            f'<text x="{lx + 16}" y="{ly - 4}" font-size="11" fill="#374151">{escape(label)}</text>'
        )
        lx += 28 + 6.2 * len(label)
    if windows:
        parts.append(
            f'<rect x="{lx}" y="{ly - 12}" width="12" height="10" fill="#fca5a5" '
            'fill-opacity="0.5"/>'
        )
        parts.append(
            f'<text x="{lx + 16}" y="{ly - 4}" font-size="11" fill="#374151">fault live</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
