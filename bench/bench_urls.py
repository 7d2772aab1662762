"""The production URLs plus one plain Django JSON view: the yardstick for the endpoints'
throughput in bench/status_page.py and bench/load.py (loaded only through
bench.bench_settings)."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from tensafe_ir.urls import urlpatterns as production


@require_GET
def plain_json(request):
    """What any Django JSON view costs at least: routing, middleware, one JsonResponse."""
    return JsonResponse({"status": "ok", "components": 6})


urlpatterns = [path("bench/plain.json", plain_json), *production]
