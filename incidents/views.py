from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET


@require_GET
def home(request):
    # The browser dashboard arrives with its issue; until then the way in is the admin.
    return redirect("admin:index")


@require_GET
def healthz(request):
    """Liveness and database reachability, for load balancers and `make run` readiness."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})
