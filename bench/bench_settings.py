"""Settings for bench/status_page.py and bench/load.py only: production settings plus a
urlconf that adds the plain JSON view the endpoints are compared with (production has no
such route)."""

from tensafe_ir.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
DEBUG = False
