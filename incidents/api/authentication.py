"""The API's token authentication (settings.REST_FRAMEWORK). Its own module: DRF loads it
while `rest_framework.views` is being imported, so it imports nothing of our views."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.db import connections, router
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ..db import planned_once_cursor
from ..models import ApiToken
from ..models.accounts import token_digest

# last_used_at is written at most this often per token: the read path stays one indexed
# lookup, with a write only when a token was idle for longer.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <secret>`, looked up by its SHA-256. Revoked, expired or the
    user's deactivated: 401 saying which."""

    def authenticate_credentials(self, key):
        token = token_with_user(token_digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
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


# Every API request runs this lookup. Through the ORM it cost 1.1 ms of CPU, of which building
# and compiling the query ~0.6 ms and sending it 0.12 ms (docs/benchmarks.md, "Token
# lookup"); so the ORM compiles it once per process and database, and each request sends the
# same SQL with its digest and builds the two rows as the ORM would (the backend's converters,
# `from_db`).
DIGEST_PLACEHOLDER = "<digest>"


@cache
def _compiled_lookup(alias: str):
    """The SQL, the converters by column and a builder per model. Nothing of the connection
    that compiled it is kept (each thread has its own)."""
    queryset = (
        ApiToken.objects.using(alias)
        .select_related("user")
        .filter(digest=DIGEST_PLACEHOLDER)
        .order_by()  # as get() does: one row at most
    )
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    if list(params) != [DIGEST_PLACEHOLDER]:
        raise RuntimeError(f"the token lookup's parameters are not the digest alone: {params}")
    select = compiler.select[: compiler.col_count]
    converters = list(compiler.get_converters([column for column, *_ in select]).items())
    token_info = compiler.klass_info
    (user_info,) = token_info["related_klass_infos"]

    def builder(info):
        """The row's slice for `info`'s model (contiguous, as the ORM's own populators
        assume), made an instance the way the ORM makes it."""
        fields = info["select_fields"]
        names = [select[n][0].target.attname for n in fields]
        start, end = fields[0], fields[-1] + 1
        return lambda row: info["model"].from_db(alias, names, row[start:end])

    return sql, converters, builder(token_info), builder(user_info), user_info["local_setter"]


def token_with_user(digest: str) -> ApiToken | None:
    """`ApiToken.objects.select_related("user").get(digest=digest)`, or None: one query."""
    alias = router.db_for_read(ApiToken)
    sql, converters, token_of, user_of, set_user = _compiled_lookup(alias)
    connection = connections[alias]
    with planned_once_cursor(alias) as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = list(row)
        for position, (functions, expression) in converters:
            for convert in functions:
                row[position] = convert(row[position], expression, connection)
    token = token_of(row)
    set_user(token, user_of(row))
    return token
