from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..selectors import oncall_overview, user_feed_path


@login_required
@require_GET
def oncall(request):
    now = timezone.now()
    return render(
        request,
        "dashboard/oncall.html",
        {
            "now": now,
            "teams": oncall_overview(now),
            "my_feed": request.build_absolute_uri(user_feed_path(request.user)),
        },
    )
