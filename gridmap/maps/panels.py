"""The HTML of the validation map's header panel and legend (Chinese, no external files).

Both are plain HTML strings; :class:`gridmap.maps.controls.HtmlControl` puts them on the map.
Every value that comes from the report or the uploaded file is HTML-escaped here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from gridmap.maps.labels import (
    KIND_LABELS,
    format_count,
    html_text,
    kind_colour,
    kind_label,
    level_label,
    severity_label,
)

#: Issues without geometry listed in the header at most (the rest are counted).
MAX_LISTED_WITHOUT_GEOMETRY = 200

PANEL_CSS = """
.leaflet-container { background: #f4f3ef; }
.gridmap-panel { font: 13px/1.5 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
  "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; color: #222; background: rgba(255,255,255,.95);
  padding: 8px 10px; border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.35); max-width: 380px; }
.gridmap-header { max-height: 70vh; overflow: auto; }
.gridmap-header summary { cursor: pointer; font-size: 15px; }
.gridmap-header table { border-collapse: collapse; margin: 4px 0; }
.gridmap-header th, .gridmap-header td { padding: 1px 6px; border-bottom: 1px solid #eee; text-align: right; }
.gridmap-header th:first-child, .gridmap-header td:first-child { text-align: left; }
.gridmap-header ul { margin: 2px 0; padding-left: 18px; }
.gm-status { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; margin-left: 4px; }
.gm-pass { background: #1a9850; } .gm-fail { background: #d73027; }
.gm-muted { color: #666; }
.gm-swatch { display: inline-block; width: 14px; height: 10px; margin-right: 5px; vertical-align: middle;
  border: 2px solid; }
.gm-line { display: inline-block; width: 22px; margin-right: 5px; vertical-align: middle; }
.gm-dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin: 0 8px 0 4px;
  vertical-align: middle; }
.gridmap-legend div { white-space: nowrap; }
.leaflet-container, .leaflet-tooltip, .leaflet-popup-content { font-family: "PingFang SC", "Microsoft YaHei",
  "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; }
.leaflet-tooltip.foliumtooltip { white-space: normal; width: max-content; max-width: 360px; }
.foliumtooltip td, .foliumpopup td { word-break: break-all; }
"""


def issue_counts(issues: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """``{kind: {"error": n, "warning": m}}``, kinds in the order of :data:`KIND_LABELS` then
    first seen. A severity other than ``"warning"`` counts as an error."""
    counts: dict[str, Counter] = {}
    for issue in issues:
        sev = "warning" if issue.get("severity") == "warning" else "error"
        counts.setdefault(str(issue.get("kind") or ""), Counter())[sev] += 1
    order = [k for k in KIND_LABELS if k in counts] + [k for k in counts if k not in KIND_LABELS]
    return {k: {"error": counts[k]["error"], "warning": counts[k]["warning"]} for k in order}


def _notes_html(notes) -> str:
    if not notes:
        return ""
    items = [notes] if isinstance(notes, str) else list(notes)
    lis = "".join(f"<li>{html_text(str(n))}</li>" for n in items)
    return f'<div class="gm-notes"><b>说明</b><ul>{lis}</ul></div>'


def _without_geometry_html(issues: Sequence[Mapping]) -> str:
    if not issues:
        return ""
    lis = []
    for issue in issues[:MAX_LISTED_WITHOUT_GEOMETRY]:
        codes = "、".join(str(c) for c in (issue.get("codes") or []))
        lis.append(
            f"<li>[{html_text(severity_label(issue.get('severity')))}] {html_text(kind_label(issue.get('kind')))}"
            + (f" {html_text(codes)}" if codes else "")
            + f"：{html_text(str(issue.get('message') or ''))}</li>"
        )
    more = len(issues) - MAX_LISTED_WITHOUT_GEOMETRY
    tail = f'<div class="gm-muted">另有 {format_count(more)} 项未列出，见校验报告。</div>' if more > 0 else ""
    return (
        f'<div class="gm-nogeom"><b>无法在地图上标出的问题（{format_count(len(issues))}）</b>'
        f"<ul>{''.join(lis)}</ul>{tail}</div>"
    )


def header_html(report: Mapping, level_counts: Mapping[int | None, int], without_geometry: Sequence[Mapping]) -> str:
    """The header panel: file, 通过/未通过, error and warning totals, counts by kind (from the
    issues themselves), the CRS areas were measured in (``summary["metric_crs"]``), areas per
    level, the report's notes and the issues that could not be drawn."""
    issues = report.get("issues") or []
    counts = issue_counts(issues)
    n_err = sum(c["error"] for c in counts.values())
    n_warn = sum(c["warning"] for c in counts.values())
    ok = bool(report.get("ok"))
    status = '<span class="gm-status gm-pass">通过</span>' if ok else '<span class="gm-status gm-fail">未通过</span>'
    parts = [f'<details open data-ok="{str(ok).lower()}"><summary><b>边界文件校验报告</b>{status}</summary>']
    if report.get("file"):
        parts.append(f'<div class="gm-file">文件：{html_text(str(report["file"]))}</div>')
    parts.append(
        f'<div class="gm-totals" data-errors="{n_err}" data-warnings="{n_warn}">'
        f"错误 <b>{format_count(n_err)}</b> 项，警告 <b>{format_count(n_warn)}</b> 项</div>"
    )
    if counts:
        rows = "".join(
            f'<tr data-kind="{html_text(kind)}" data-errors="{c["error"]}" data-warnings="{c["warning"]}">'
            f'<td><span class="gm-swatch" style="background:{kind_colour(kind)};border-color:{kind_colour(kind)}">'
            f"</span>{html_text(kind_label(kind))}</td><td>{format_count(c['error'])}</td>"
            f"<td>{format_count(c['warning'])}</td></tr>"
            for kind, c in counts.items()
        )
        parts.append(
            f"<table><thead><tr><th>问题类型</th><th>错误</th><th>警告</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        parts.append('<div class="gm-muted">未发现问题。</div>')
    summary = report.get("summary")
    if isinstance(summary, Mapping) and summary.get("metric_crs"):
        parts.append(f'<div class="gm-muted">面积计算坐标系：{html_text(summary["metric_crs"])}</div>')
    if level_counts:
        areas = "，".join(f"{html_text(level_label(lv))} {format_count(n)}" for lv, n in level_counts.items())
        parts.append(f'<div class="gm-areas">上传区域：{areas}</div>')
    parts.append(_notes_html(report.get("notes")))
    parts.append(_without_geometry_html(without_geometry))
    parts.append("</details>")
    return "".join(parts)


def legend_html(kinds: Iterable[str], level_weights: Mapping[int | None, tuple[str, float]], has_points: bool) -> str:
    """The legend: a colour per issue kind drawn, how errors and warnings differ, the locator
    dots, and the outline of each level (``level_weights``: level → (colour, line width))."""
    rows = ["<div><b>图例</b></div>"]
    for kind in kinds:
        c = kind_colour(kind)
        rows.append(
            f'<div><span class="gm-swatch" style="background:{c};border-color:{c}"></span>'
            f"{html_text(kind_label(kind))}</div>"
        )
    rows.append(
        '<div><span class="gm-swatch" style="background:#999;border-color:#666"></span>实线边框：错误'
        '</div><div><span class="gm-swatch" style="background:#ddd;border:2px dashed #666"></span>'
        "虚线边框：警告</div>"
    )
    if has_points:
        rows.append('<div><span class="gm-dot" style="background:#666"></span>圆点：点状问题或细小问题的位置</div>')
    for level, (colour, weight) in level_weights.items():
        rows.append(
            f'<div><span class="gm-line" style="border-top:{max(weight, 1):.1f}px solid {colour}"></span>'
            f"{html_text(level_label(level))}边界</div>"
        )
    return "".join(rows)
