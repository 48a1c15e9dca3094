"""What validation finds: one ``Finding`` per defect, gathered in a ``ValidationReport``.

The JSON shape (``ValidationReport.to_dict``) is the contract shared by the CLI, the API and the
upload page: ``{"ok", "summary", "issues": [{"kind", "severity", "codes", "area_m2", "geometry",
"message", ...}]}``. Geometries are GeoJSON in EPSG:4490 (lon/lat); areas are square metres
measured in a projected CRS (``summary["metric_crs"]``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.config import get_settings

ERROR, WARNING = "error", "warning"
#: Every severity, with its Chinese label.
SEVERITIES: dict[str, str] = {ERROR: "错误", WARNING: "警告"}


class FindingKind(NamedTuple):
    """A kind of finding: its Chinese label, default severity and the colour maps and pages draw
    it in (ColorBrewer-like, distinguishable on white and on a basemap)."""

    label: str
    severity: str
    colour: str


#: Every kind of finding, in the order reports list them. Each is made by one registered check
#: (``gridmap.geometry.validate.CHECKS``, which names its kinds); the pages get this table in
#: their config, the maps read it too: a new kind is one line here.
KINDS: dict[str, FindingKind] = {
    "invalid_geometry": FindingKind("几何无效", ERROR, "#a50026"),
    "duplicate_code": FindingKind("编码重复", ERROR, "#c51b7d"),
    "bad_code": FindingKind("编码错误", ERROR, "#8c510a"),
    "orphan": FindingKind("上级不存在", ERROR, "#2166ac"),
    "overlap": FindingKind("重叠", ERROR, "#d7191c"),
    "gap": FindingKind("空白缝隙", ERROR, "#7b3294"),
    "outside_parent": FindingKind("超出上级范围", ERROR, "#e66101"),
    "sliver": FindingKind("细小缝隙/重叠", WARNING, "#e6ab02"),
    "policy": FindingKind("规范提醒", WARNING, "#1b9e77"),
    # the county's declared level scheme has a level the file holds no area of
    "scheme_level_missing": FindingKind("缺少方案中的层级", WARNING, "#66a61e"),
    # the file as read does not lie where the live areas are (gridmap.services.placement)
    "crs_mismatch": FindingKind("坐标系不符", ERROR, "#542788"),
    # --crs overrode the file's own CRS with one placing it elsewhere (gridmap.services.placement)
    "crs_override": FindingKind("坐标系与文件不一致", WARNING, "#8073ac"),
    # a county of the file overlaps a live neighbouring county (gridmap.services.neighbours)
    "county_overlap": FindingKind("与相邻区县重叠", ERROR, "#b2182b"),
    # against the official outline of its city or province (gridmap.services.region_outlines)
    "county_outside_region": FindingKind("超出市/省界", ERROR, "#f46d43"),
    "county_gap": FindingKind("与相邻区县间空白", WARNING, "#5e3c99"),
}

#: Kinds found not by a check of the areas (the registry ``gridmap.geometry.checks.CHECKS`` holds
#: those) but by comparing the file with the live database or with what the file itself declares
#: (``gridmap.services.placement``).
DATABASE_KINDS = ("crs_mismatch", "crs_override", "county_overlap", "county_outside_region", "county_gap")


@dataclass
class Finding:
    """One defect. ``geometry`` is in EPSG:4490; ``area_m2`` in square metres (0 when the finding
    concerns no area, e.g. a code error on an empty feature); ``rows`` the input rows involved."""

    kind: str
    codes: list[str]
    area_m2: float
    geometry: BaseGeometry | None
    message: str
    severity: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    rows: list[int] = field(default_factory=list, repr=False)  # input rows involved (not serialised)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        self.severity = self.severity or KINDS[self.kind].severity

    def to_dict(self) -> dict[str, Any]:
        geometry = None
        if self.geometry is not None and not self.geometry.is_empty:
            try:
                rounded = shapely.set_precision(self.geometry, 1e-8)
            except shapely.errors.GEOSException:  # a sliver GEOS cannot snap to the grid: round the
                rounded = shapely.set_precision(self.geometry, 1e-8, mode="pointwise")  # vertices only
            geometry = shapely.geometry.mapping(rounded)
        return {
            "kind": self.kind,
            "severity": self.severity,
            "codes": self.codes,
            "area_m2": round(float(self.area_m2), 3),
            "geometry": geometry,
            "message": self.message,
            **self.detail,
        }


@dataclass
class ValidationReport:
    """The outcome of validating one upload: findings plus what was read and how."""

    findings: list[Finding]
    feature_count: int
    levels: dict[int, int]  # level -> number of features
    metric_crs: str  # e.g. "EPSG:4526": where areas and distances were measured
    source: dict[str, Any] = field(default_factory=dict)  # file, format, encoding, crs, fields, notes
    repairs: list[dict[str, Any]] | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        by_kind = Counter(f.kind for f in self.findings)
        return {
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "by_kind": dict(sorted(by_kind.items())),
            "features": self.feature_count,
            "levels": {str(k): v for k, v in sorted(self.levels.items())},
            "metric_crs": self.metric_crs,
        }

    def to_dict(self, max_issues: int | None = None) -> dict[str, Any]:
        """The report as JSON types. At most ``max_issues`` issues (default: the setting
        ``GRIDMAP_MAX_REPORT_ISSUES``) are listed one by one, errors first; the summary counts them
        all, and ``issues_total`` / ``issues_truncated`` say when the list was cut."""
        limit = get_settings().max_report_issues if max_issues is None else max_issues
        shown = self.findings
        if len(shown) > limit:
            shown = sorted(shown, key=lambda f: f.severity != ERROR)[:limit]  # stable: file order within
        out: dict[str, Any] = {
            "ok": self.ok,
            "summary": self.summary(),
            **self.source,
            "issues": [f.to_dict() for f in shown],
        }
        if len(shown) < len(self.findings):
            out["issues_total"] = len(self.findings)
            out["issues_truncated"] = True
        if self.repairs is not None:
            out["repairs"] = self.repairs
        return out


def fmt_area(area_m2: float) -> str:
    """Square metres for messages: '1,234.5 平方米'."""
    return f"{area_m2:,.1f} 平方米"


def report_text(report: dict[str, Any]) -> str:
    """The report as plain Chinese text for a terminal (``gridmap validate --format text``)."""
    s = report["summary"]
    lines = []
    if report.get("file"):
        lines.append(
            f"文件：{report['file']}（{report.get('format', '')}；编码 {report.get('encoding', '-')}；"
            f"坐标系 {report.get('crs', '-')}）"
        )
    if report.get("fields"):
        lines.append("字段：" + "，".join(f"{k} ← {v}" for k, v in report["fields"].items()))
    for note in report.get("notes", []):
        lines.append(f"说明：{note}")
    levels = "，".join(f"第 {k} 级 {v:,} 个" for k, v in s["levels"].items())
    lines.append(f"要素：{s['features']:,} 个（{levels}）；面积在 {s['metric_crs']} 中以平方米计算")
    verdict = "通过" if report["ok"] else "未通过"
    lines.append(f"结果：{verdict}，{s['errors']} 个错误，{s['warnings']} 个警告")
    for issue in report["issues"]:
        tag = SEVERITIES[ERROR] if issue["severity"] == ERROR else SEVERITIES[WARNING]
        label = KINDS[issue["kind"]].label
        lines.append(f"  [{tag}] {label} {'、'.join(issue['codes'])}  {fmt_area(issue['area_m2'])}")
        lines.append(f"         {issue['message']}")
    if report.get("issues_truncated"):
        lines.append(
            f"  ……仅列出前 {len(report['issues']):,} 个问题（错误在前），共 {report['issues_total']:,} 个；"
            "各类问题的数量见上方结果（可调整 GRIDMAP_MAX_REPORT_ISSUES）。"
        )
    for change in report.get("repairs") or []:
        lines.append(
            f"  [修复] {change['code'] or change['row']}：{'、'.join(change['actions'])}，"
            f"面积 {change['area_before_m2']:,.1f} → {change['area_after_m2']:,.1f} 平方米"
        )
    return "\n".join(lines)
