"""The management summary: a few PDF pages on one range, from the same numbers and charts as the app.

:func:`build_summary` gathers the figures (pure, from :mod:`creditlens.reports` and
:mod:`creditlens.chargeback`); :func:`render_pdf` lays them out with fpdf2 and draws the charts from
the app's own Altair specs through vl-convert (no browser). Names from the portal are written as
plain text: fpdf2 interprets no markup unless asked to.

Pages: org, range and date made, KPIs against the previous period and credits by service; the top
10 members; the chargeback table with its add-up check and the reconciliation check; budgets over
their allocation.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fpdf import FPDF

from creditlens import chargeback as cb
from creditlens import charts, reports
from creditlens.money import Pricing, allocated_costs, costs, format_money
from creditlens.services import service_name

EM_DASH = "—"
TOP_N = 10
MAX_SERVICE_ROWS = 10  # the rest as one "Other services" row, so the table still adds up
#: Fonts with the glyphs portal names use (accents, ✓); Debian's fonts-dejavu-core puts them here.
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"), Path("/usr/local/share/fonts"))
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
INK, MUTED, ACCENT, WARN = (33, 37, 41), (108, 117, 125), (78, 121, 167), (176, 42, 55)
CHART_SCALE = 2


def fmt_credits(value: float | None) -> str:
    """Credits as the app shows them: thousands separators and two decimals."""
    return EM_DASH if value is None or math.isnan(value) else f"{float(value):,.2f}"


def fmt_int(value: float | None) -> str:
    return EM_DASH if value is None or math.isnan(value) else f"{round(float(value)):,d}"


def fmt_pct(value: float | None, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return EM_DASH
    return f"{float(value):+,.1f}%" if signed else f"{float(value):,.1f}%"


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    detail: str


@dataclass(frozen=True)
class Summary:
    org_name: str
    start: dt.date
    end: dt.date
    made_at: dt.datetime
    pricing: Pricing
    kpis: reports.OverviewKpis
    previous_range: tuple[dt.date, dt.date]
    previous_note: str | None  # why there is no comparison, when there is none
    services: pd.DataFrame  # service, credits, share_pct (+ cost)
    trend: pd.DataFrame  # reports.service_trend, for the chart
    granularity: str
    top: pd.DataFrame  # reports.top_members (+ cost)
    chargeback: cb.Chargeback
    totals: reports.TotalsCheck | None
    budgets_enabled: bool
    over_budget: pd.DataFrame  # reports.budget_status rows in state "over"
    warning: str | None = None  # why the figures are incomplete; None when complete

    @property
    def complete(self) -> bool:
        return self.warning is None

    @property
    def range_text(self) -> str:
        days = (self.end - self.start).days + 1
        return f"{self.start.isoformat()} to {self.end.isoformat()} (UTC, {days} day{'s' if days != 1 else ''})"


def service_totals(usage: pd.DataFrame, pricing: Pricing) -> pd.DataFrame:
    """Credits per service (human name) in the range, largest first, with share and cost."""
    codes = usage["stype"].astype(str)
    per = usage.groupby(codes, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    total = float(per.sum())
    frame = pd.DataFrame(
        {
            "service": [service_name(s) for s in per.index],
            "credits": per.to_numpy(dtype=float),
            "share_pct": per.to_numpy(dtype=float) / total * 100 if total else 0.0,
        }
    )
    if pricing.priced:
        frame.insert(2, pricing.cost_column, allocated_costs(frame["credits"], pricing))
    return frame


def services_shown(services: pd.DataFrame, rows: int = MAX_SERVICE_ROWS) -> pd.DataFrame:
    """The largest services, the rest summed as one "Other services (N)" row: the table keeps its total."""
    if len(services) <= rows:
        return services
    head, rest = services.head(rows - 1), services.iloc[rows - 1 :]
    other = rest.drop(columns="service").sum().to_frame().T
    other.insert(0, "service", f"Other services ({len(rest)})")
    return pd.concat([head, other], ignore_index=True)


def build_summary(
    *,
    org_name: str,
    org_id: str,
    start: dt.date,
    end: dt.date,
    usage: pd.DataFrame,
    previous: pd.DataFrame | None,
    members: pd.DataFrame,
    org_totals: pd.DataFrame | None,
    cost_centers: cb.CostCenters,
    pricing: Pricing,
    available_credits: float | None,
    budgets_enabled: bool,
    warning: str | None = None,
    previous_note: str | None = None,
    made_at: dt.datetime | None = None,
) -> Summary:
    """Every figure of the summary, computed by the same functions as the pages."""
    kpis = reports.overview_kpis(usage, previous, members, org_id, available_credits)
    board = reports.leaderboard(usage, members, org_id)
    top = reports.top_members(board, TOP_N)
    if pricing.priced:
        top.insert(top.columns.get_loc("credits") + 1, pricing.cost_column, costs(top["credits"], pricing))
    org_total = None if org_totals is None else float(org_totals["credits"].sum())
    charge = cb.build_chargeback(usage, members, org_id, cost_centers, pricing, org_total, complete=warning is None)
    status = reports.budget_status(members, usage) if budgets_enabled else None
    over = status[status["state"] == "over"].reset_index(drop=True) if status is not None else pd.DataFrame()
    granularity = reports.choose_granularity(start, end)
    return Summary(
        org_name=org_name,
        start=start,
        end=end,
        made_at=(made_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
        pricing=pricing,
        kpis=kpis,
        previous_range=reports.previous_period(start, end),
        previous_note=previous_note,
        services=service_totals(usage, pricing),
        trend=reports.service_trend(usage, granularity, start, end),
        granularity=granularity,
        top=top,
        chargeback=charge,
        totals=None if org_totals is None else reports.totals_check(usage, org_totals),
        budgets_enabled=budgets_enabled,
        over_budget=over,
        warning=warning,
    )


def summary_kpis(summary: Summary) -> list[Kpi]:
    """The KPI block: what the Overview and Chargeback pages show, with the same formatting."""
    k = summary.kpis
    incomplete = " (incomplete)" if not summary.complete else ""
    prev_start, prev_end = summary.previous_range
    if k.previous_credits is None:
        compare = summary.previous_note or "No previous period to compare with."
    else:
        change = fmt_pct(k.change_pct, signed=True) if k.change_pct is not None else EM_DASH
        compare = f"{change} vs {fmt_credits(k.previous_credits)} in {prev_start.isoformat()} to {prev_end.isoformat()}"
    out = [Kpi(f"Credits in range{incomplete}", fmt_credits(k.credits), compare)]
    if summary.pricing.priced:
        out.append(
            Kpi(
                f"Cost in range{incomplete}",
                format_money(summary.chargeback.total_cost, summary.pricing.currency),
                summary.pricing.describe(),
            )
        )
    out += [
        Kpi("Active members", fmt_int(k.active_members), "Members who used credits in the range."),
        Kpi(
            f"Credits used by non-members{incomplete}",
            fmt_credits(k.non_member_credits),
            "Former members, other organizations' users, public accounts and unattributed usage.",
        ),
        Kpi("Available credits", fmt_credits(k.available_credits), "The org's balance now, whatever the range."),
    ]
    return out


def totals_check_text(check: reports.TotalsCheck) -> str:
    mark = "✓" if check.ok else "✗"
    sign = "=" if check.ok else "≠"
    return (
        f"Per-user {fmt_credits(check.per_user)} + unattributed {fmt_credits(check.unattributed)} "
        f"{sign} org total {fmt_credits(check.org_total)} {mark}"
    )


# -- rendering -----------------------------------------------------------------------------------------
def chart_png(chart) -> bytes:
    """An Altair chart as PNG through vl-convert: the same spec the app draws, no browser."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_json(), scale=CHART_SCALE)


def render_pdf(summary: Summary) -> bytes:
    """The summary as PDF bytes."""
    pdf = _SummaryPDF(summary)
    pdf.first_page()
    pdf.members_page()
    pdf.chargeback_page()
    return bytes(pdf.output())


def _font_paths() -> dict[str, Path] | None:
    for folder in FONT_DIRS:
        paths = {style: folder / name for style, name in FONT_FILES.items()}
        if all(p.is_file() for p in paths.values()):
            return paths
    return None


class _SummaryPDF(FPDF):
    def __init__(self, summary: Summary) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.summary = summary
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=16)
        self.set_title(f"Credit usage summary: {summary.org_name}")
        self.set_creator("Credit Lens")
        self.set_creation_date(summary.made_at)
        fonts = _font_paths()
        if fonts:
            for style, path in fonts.items():
                self.add_font("Body", style, str(path))
            self.family = "Body"
            self.unicode = True
        else:  # no Unicode font installed: the core font, with what it cannot draw replaced
            self.family = "Helvetica"
            self.unicode = False

    # fpdf2 calls these on every page
    def footer(self) -> None:
        self.set_y(-12)
        self._font(7.5, color=MUTED)
        made = self.summary.made_at.strftime("%Y-%m-%d %H:%M UTC")
        self.cell(0, 5, self.plain(f"Credit Lens · {self.summary.org_name} · made {made}"), align="L")
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R", new_x="LMARGIN", new_y="NEXT")

    def plain(self, value: object) -> str:
        """Plain text the font can draw (every name from the portal goes through here)."""
        out = "" if value is None else str(value)
        out = out.replace("\r", " ").replace("\n", " ")
        if self.unicode:
            return out
        return (
            out.replace("✓", "OK")
            .replace("✗", "X")
            .replace("≠", "!=")
            .replace("—", "-")
            .replace("–", "-")
            .encode("latin-1", "replace")
            .decode("latin-1")
        )

    def _font(self, size: float, bold: bool = False, color=INK) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.set_text_color(*color)

    def heading(self, title: str) -> None:
        self.ln(3)
        self._font(13, bold=True, color=ACCENT)
        self.cell(0, 8, self.plain(title), new_x="LMARGIN", new_y="NEXT")
        self._font(9)

    def note(self, text: str, color=MUTED, size: float = 8.5) -> None:
        self._font(size, color=color)
        self.multi_cell(0, 4.5, self.plain(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self._font(9)

    def warning_box(self) -> None:
        if self.summary.warning is None:
            return
        self.set_fill_color(253, 236, 236)
        self._font(9.5, bold=True, color=WARN)
        self.multi_cell(
            0,
            5.5,
            self.plain(f"INCOMPLETE. {self.summary.warning} Totals below are short."),
            fill=True,
            new_x="LMARGIN",
            new_y="NEXT",
            padding=2,
        )
        self.set_fill_color(255, 255, 255)  # tables after it take the current fill for their headings
        self._font(9)
        self.ln(2)

    def grid(self, frame: pd.DataFrame, columns: list[tuple[str, str, str, float]]) -> None:
        """``columns``: (frame column, header, kind, width in mm); kind is text, credits, money, pct or int."""
        self._font(8.5)
        widths = [c[3] for c in columns]
        aligns = ["LEFT" if c[2] == "text" else "RIGHT" for c in columns]
        with self.table(
            col_widths=widths,
            width=sum(widths),
            align="LEFT",
            text_align=aligns,
            line_height=5,
            borders_layout="HORIZONTAL_LINES",
            padding=(0.8, 1.2),
            markdown=False,
        ) as table:
            header = table.row()
            for _, title, _, _ in columns:
                header.cell(self.plain(title))
            for _, record in frame.iterrows():
                row = table.row()
                for name, _, kind, _ in columns:
                    row.cell(self.plain(self._cell(record[name], kind)))
        self._font(9)

    def _cell(self, value: object, kind: str) -> str:
        if kind == "text":
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
        number = None if value is None or pd.isna(value) else float(value)
        if kind == "money":
            return format_money(number, self.summary.pricing.currency)
        if kind == "pct":
            return fmt_pct(number)
        if kind == "int":
            return fmt_int(number)
        return fmt_credits(number)

    def chart(self, chart, width: float = 180) -> None:
        png = chart_png(chart.properties(width=720))
        self.image(io.BytesIO(png), w=width)

    # -- pages ------------------------------------------------------------------------------------------
    def first_page(self) -> None:
        s = self.summary
        self.add_page()
        self._font(20, bold=True)
        self.cell(0, 10, self.plain("Credit usage summary"), new_x="LMARGIN", new_y="NEXT")
        self._font(13)
        self.cell(0, 7, self.plain(s.org_name), new_x="LMARGIN", new_y="NEXT")
        self._font(10, color=MUTED)
        self.cell(0, 6, self.plain(f"Range: {s.range_text}"), new_x="LMARGIN", new_y="NEXT")
        self.cell(0, 6, self.plain(f"Made: {s.made_at.strftime('%Y-%m-%d %H:%M UTC')}"), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)
        self.warning_box()
        self.kpi_block(summary_kpis(s))
        self.heading("Credits by service")
        if s.services.empty:
            self.note("No credits were used in the range.")
            return
        self.chart(charts.stacked_service_chart(s.trend, s.granularity, height=200))
        self.ln(2)
        money = [(s.pricing.cost_column, s.pricing.cost_label, "money", 32.0)] if s.pricing.priced else []
        self.grid(
            services_shown(s.services),
            [
                ("service", "Service", "text", 80.0),
                ("credits", "Credits", "credits", 32.0),
                *money,
                ("share_pct", "Share", "pct", 22.0),
            ],
        )

    def kpi_block(self, kpis: list[Kpi]) -> None:
        for kpi in kpis:
            y = self.get_y()
            self._font(8.5, color=MUTED)
            self.cell(62, 5, self.plain(kpi.label))
            self._font(12, bold=True)
            self.cell(42, 5, self.plain(kpi.value), align="R")
            self._font(8.5, color=MUTED)
            self.set_x(self.l_margin + 108)
            self.multi_cell(0, 4.2, self.plain(kpi.detail), align="L", new_x="LMARGIN", new_y="NEXT")
            self.set_y(max(self.get_y(), y + 7))
        self._font(9)

    def members_page(self) -> None:
        s = self.summary
        self.add_page()
        self.heading(f"Top {TOP_N} members")
        if s.top.empty:
            self.note("No member used credits in the range.")
        else:
            money = [(s.pricing.cost_column, s.pricing.cost_label, "money", 28.0)] if s.pricing.priced else []
            self.grid(
                s.top,
                [
                    ("rank", "#", "int", 8.0),
                    ("username", "Username", "text", 52.0),
                    ("full_name", "Name", "text", 38.0),
                    ("credits", "Credits", "credits", 26.0),
                    *money,
                    ("top_service", "Top service", "text", 28.0),
                ],
            )
        self.heading("Budgets over their allocation")
        if not s.budgets_enabled:
            self.note("Credit budgeting is turned off for this organization.")
        elif s.over_budget.empty:
            self.note("No member has used more than their allocation.")
        else:
            self.grid(
                s.over_budget,
                [
                    ("username", "Username", "text", 55.0),
                    ("full_name", "Name", "text", 45.0),
                    ("assigned", "Assigned", "credits", 26.0),
                    ("used", "Used", "credits", 26.0),
                    ("used_pct", "Used %", "pct", 20.0),
                ],
            )
            self.note("Allocations are running totals as ArcGIS Online reports them now, whatever the range.")

    def chargeback_page(self) -> None:
        s = self.summary
        charge = s.chargeback
        self.add_page()
        self.heading("Chargeback")
        self.note(charge.cost_centers.describe())
        if charge.cost_centers.report is not None:
            self.note(f"Mapping file: {charge.cost_centers.report.summary()}")
        money = [(s.pricing.cost_column, s.pricing.cost_label, "money", 28.0)] if s.pricing.priced else []
        total = pd.DataFrame(
            [
                {
                    "cost_center": "Total",
                    "credits": charge.total_credits,
                    s.pricing.cost_column: charge.total_cost,
                    "share_pct": 100.0 if charge.total_credits else 0.0,
                    "member_count": len(charge.members_by_line["key"].unique()),
                    "active_members": None,
                }
            ]
        )
        table = pd.concat([charge.table, total], ignore_index=True)
        self.grid(
            table,
            [
                ("cost_center", "Cost center", "text", 52.0),
                ("credits", "Credits", "credits", 26.0),
                *money,
                ("share_pct", "Share", "pct", 16.0),
                ("member_count", "Members", "int", 18.0),
                ("active_members", "Active", "int", 16.0),
            ],
        )
        self.ln(1)
        self._font(9.5, bold=True, color=INK if charge.check.ok else WARN)
        self.multi_cell(0, 5, self.plain(charge.check.describe()), new_x="LMARGIN", new_y="NEXT")
        if s.totals is not None:
            self.multi_cell(
                0, 5, self.plain("Reconciliation: " + totals_check_text(s.totals)), new_x="LMARGIN", new_y="NEXT"
            )
        self.note(
            "Org overhead is usage by former members, other organizations' users and public accounts; "
            "unattributed usage carries no username. A member in several cost centers has their credits split "
            "evenly and is counted on each line, so the Members column adds up to more than the Total's."
        )
        trend = cb.monthly_trend(charge)
        if cb.has_usage(trend):
            self.heading("Chargeback by month")
            self.chart(cb.monthly_chart(trend, height=220))
            self.note("UTC months, as on the page: the range's first and last months may be partial.")
