"""The API's token authentication (settings.REST_FRAMEWORK). Its own module: DRF loads it
while `rest_framework.views` is being imported, so it imports nothing of our views."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ..models import ApiToken
from ..models.accounts import token_digest

# last_used_at is written at most this often per token: the read path stays one indexed
# lookup, with a write only when a token was idle for longer.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <secret>`, looked up by its SHA-256. Revoked, expired or the
    user's deactivated: 401 saying which."""

    def authenticate_credentials(self, key):
        # get(), not filter().first(): the digest is unique, and first()'s ORDER BY cost a
        # fifth of the lookup's 1.1 ms (it runs on every API request).
        try:
            token = ApiToken.objects.select_related("user").get(digest=token_digest(key))
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                f"Token revoked ({token.revoked_reason or 'revoked'}); sign in for a new one."
            )
        now = timezone.now()
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("Token expired; sign in for a new one.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token
