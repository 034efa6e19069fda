"""Admin for group statistics: the daily figures, read-only (the roll-up writes them), the all-groups growth view
(totals per day over a chosen range) and the SVG charts it and the group page draw.

The charts are SVG drawn on the server: no JavaScript, no CDN (the admin runs inside corporate networks in China
where foreign CDNs are slow or blocked), readable by screen readers through their title and the table beside.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from groups.models import GroupDailyStat
from groups.selectors.stats import DEFAULT_RANGE_DAYS, stats_daily_totals, stats_range
from scrm.core.admin_base import ReadOnlyAdmin

MEMBERS_COLOR = "#417690"  # the admin's own blue
JOINS_COLOR = "#3c9a5f"
QUITS_COLOR = "#ba2121"  # the admin's error red


# ---- charts ------------------------------------------------------------------------------------------------------


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n at or above ``value`` (at least 1): a y axis that ends on a round number."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return max(step * factor, 1)
        step *= 10


def svg_line_chart(
    *, days: list[date], series: list[tuple[str, str, list[int]]], title: str, width: int = 720, height: int = 200
) -> SafeString:
    """A line chart of ``series`` (label, colour, one value per day) over ``days``, as inline SVG."""
    left, right, top, bottom = 48, 12, 26, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_ceiling(max((v for _l, _c, values in series for v in values if v is not None), default=0))
    count = len(days)

    # coordinates as text: format_html escapes its arguments to strings before formatting them
    def x(index: int) -> str:
        return f"{left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2):.1f}"

    def y(value: int, shift: float = 0) -> str:
        return f"{top + plot_h - plot_h * value / top_value + shift:.1f}"

    parts: list[str] = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" style="max-width:{}px" '
            'role="img" aria-label="{}" class="growth-chart"><title>{}</title>',
            width,
            height,
            width,
            title,
            title,
        )
    ]
    for value in (0, top_value // 2, top_value) if top_value > 1 else (0, top_value):
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#666">{}</text>',
                left,
                width - right,
                y(value),
                y(value),
                left - 6,
                y(value, 4),
                value,
            )
        )
    label_at = sorted({0, count // 2, count - 1}) if count else []
    for index in label_at:
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#666">{}</text>',
                x(index),
                height - 8,
                days[index].strftime("%m-%d"),
            )
        )
    legend_x = left
    for label, color, values in series:
        points = " ".join(f"{x(i)},{y(v or 0)}" for i, v in enumerate(values))
        parts.append(
            format_html(
                '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'
                '<rect x="{}" y="6" width="10" height="10" fill="{}"/>'
                '<text x="{}" y="15" font-size="12" fill="#333">{}</text>',
                color,
                points,
                legend_x,
                color,
                legend_x + 14,
                label,
            )
        )
        legend_x += 24 + 8 * len(str(label)) + 20
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))  # noqa: S308 - every part built by format_html


def growth_charts(days: list[dict]) -> SafeString:
    """Members, and joins with quits, as two charts (members dwarf the daily moves on one axis)."""
    dates = [day["day"] for day in days]
    members = svg_line_chart(
        days=dates,
        series=[(gettext("members"), MEMBERS_COLOR, [day["members"] for day in days])],
        title=gettext("Members at the end of each day"),
    )
    moves = svg_line_chart(
        days=dates,
        series=[
            (gettext("joins"), JOINS_COLOR, [day["joins"] for day in days]),
            (gettext("quits"), QUITS_COLOR, [day["quits"] for day in days]),
        ],
        title=gettext("Joins and quits per day"),
    )
    return format_html('<div class="growth">{}{}</div>', members, moves)


def figures_table(days: list[dict], *, with_groups: bool = False) -> SafeString:
    """The charts' figures as a table, newest day first."""
    headers = [gettext("day"), gettext("members"), gettext("joins"), gettext("quits"), gettext("messages")]
    headers += [gettext("SOP pushes"), gettext("SOP clicks")]
    if with_groups:
        headers.insert(1, gettext("groups"))
    rows = []
    for day in reversed(days):
        cells = [day["day"].isoformat(), day["members"], day["joins"], day["quits"]]
        cells += [day["messages"] if day["messages"] is not None else "—", day["sop_pushes"], day["sop_clicks"]]
        if with_groups:
            cells.insert(1, day["groups"])
        rows.append(format_html("<tr>{}</tr>", format_html_join("", "<td>{}</td>", ((cell,) for cell in cells))))
    return format_html(
        '<table class="growth-figures"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((header,) for header in headers)),
        mark_safe("".join(rows)),  # noqa: S308 - rows built by format_html
    )


# ---- the all-groups growth view ----------------------------------------------------------------------------------


class GrowthRangeForm(forms.Form):
    start = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("to"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                stats_range(start=data["start"], end=data["end"])
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    self.add_error({"from": "start", "to": "end"}.get(name), messages)
        return data


@admin.register(GroupDailyStat)
class GroupDailyStatAdmin(ReadOnlyAdmin):
    list_display = ["day", "group", "members", "joins", "quits", "messages", "sop_pushes", "sop_clicks", "computed_at"]
    list_select_related = ["group"]
    search_fields = ["group__name", "group__chat_id"]
    date_hierarchy = "day"
    show_full_result_count = False
    change_list_template = "admin/groups/groupdailystat/change_list.html"

    def get_urls(self):
        growth = path("growth/", self.admin_site.admin_view(self.growth_view), name="groups_groupdailystat_growth")
        return [growth, *super().get_urls()]

    def growth_view(self, request):
        """Totals across groups per day over a date range (default: the last 30 days)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        initial = {"start": today - timedelta(days=DEFAULT_RANGE_DAYS - 1), "end": today}
        form = GrowthRangeForm(request.GET or None, initial=initial)
        start, end = initial["start"], initial["end"]
        if form.is_bound and form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        days = stats_daily_totals(start=start, end=end) if not form.errors else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Growth of all groups"),
            "time_zone": settings.TIME_ZONE,
            "form": form,
            "start": start,
            "end": end,
            "charts": growth_charts(days) if days else "",
            "table": figures_table(days, with_groups=True) if days else "",
        }
        return TemplateResponse(request, "admin/groups/groupdailystat/growth.html", context)
