from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import partners
from ..charts import bar_chart, percent
from ..metrics import duration_stats, target_compliance, visible_incidents

SERIES = ["mean", "p50", "p90"]


@login_required
@require_GET
def reports(request):
    """MTTD/MTTM/MTTR and resolution-target compliance over the incidents the user may see."""
    incidents = visible_incidents(request.user)
    tables = duration_stats(incidents)
    for table in tables:
        table["chart"] = bar_chart(
            [(s.group, [s.mean, s.p50, s.p90]) for s in table["stats"]], SERIES
        )
    compliance = target_compliance(incidents)
    compliance_chart = bar_chart(
        [(c.severity, [c.percent]) for c in compliance], ["within target"], fmt=percent
    )
    extra_reports = partners.reports(request.user, incidents)
    for report in extra_reports:
        report["chart"] = bar_chart(report["chart_rows"], [report["chart_series"]], fmt=percent)
    context = {
        "incident_count": len(incidents),
        "tables": tables,
        "compliance": compliance,
        "compliance_chart": compliance_chart,
        "extra_reports": extra_reports,
    }
    return render(request, "dashboard/reports.html", context)
