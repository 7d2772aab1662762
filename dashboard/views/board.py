from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..forms import BoardFilterForm
from ..selectors import board_filter_choices, board_rows
from .common import is_htmx

BOARD_REFRESH_SECONDS = 15


@login_required
@require_GET
def board(request):
    """Active incidents the user may see, most severe then oldest first, with countdowns.
    htmx refreshes the results every 15 s with the same filters (GET parameters)."""
    choices = board_filter_choices()
    form = BoardFilterForm(request.GET, services=choices["services"], teams=choices["teams"])
    valid = form.is_valid()
    filters = {k: v for k, v in form.cleaned_data.items() if v} if valid else {}
    context = {
        "form": form,
        "rows": board_rows(request.user, **filters),
        "filtered": bool(filters),
        "refresh_seconds": BOARD_REFRESH_SECONDS,
    }
    template = "dashboard/_board_results.html" if is_htmx(request) else "dashboard/board.html"
    return render(request, template, context, status=200 if valid else 400)
