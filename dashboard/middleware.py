"""Content Security Policy for the HTML pages: scripts and styles only from our own origin, so
an injected <script> or on* handler does nothing. The dashboard has no inline script or style
(htmx is configured not to inject its indicator style nor to eval)."""

from django.conf import settings

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    """Adds `Content-Security-Policy` to every HTML response, except under the path prefixes of
    `TENSAFE_CSP_EXEMPT_PATHS` (third-party pages that need inline script, such as the Swagger
    UI and Redoc pages drf-spectacular renders)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "TENSAFE_CSP", DEFAULT_POLICY)
        self.exempt = tuple(getattr(settings, "TENSAFE_CSP_EXEMPT_PATHS", ()))

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.get("Content-Type", "").startswith("text/html")
            and "Content-Security-Policy" not in response
            and not request.path.startswith(self.exempt)
        ):
            response["Content-Security-Policy"] = self.policy
        return response
