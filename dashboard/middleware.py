"""Content Security Policy for the HTML pages: scripts and styles only from our own origin, so
an injected <script> or on* handler does nothing. The dashboard has no inline script or style
(htmx is configured not to inject its indicator style nor to eval)."""

from django.conf import settings

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


# Responses without the full policy (JSON, feeds, files, and the exempt pages) still refuse to
# be framed: browsers honour frame-ancestors for any document they would render.
FRAME_ONLY_POLICY = "frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware:
    """Adds `Content-Security-Policy` to every response: the full policy to HTML, except under
    the path prefixes of `TENSAFE_CSP_EXEMPT_PATHS` (third-party pages that need inline script,
    such as the Swagger UI and Redoc pages drf-spectacular renders), and `frame-ancestors
    'none'` alone to everything else."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "TENSAFE_CSP", DEFAULT_POLICY)
        self.exempt = tuple(getattr(settings, "TENSAFE_CSP_EXEMPT_PATHS", ()))

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        if response.get("Content-Type", "").startswith("text/html") and not request.path.startswith(
            self.exempt
        ):
            response["Content-Security-Policy"] = self.policy
        else:
            response["Content-Security-Policy"] = FRAME_ONLY_POLICY
        return response
