"""Domain errors raised by services; the API maps them to HTTP (incidents.api.errors)."""


class DomainError(Exception):
    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class RuleViolation(DomainError):
    """A rule of the procedures forbids this (HTTP 400). `rule` quotes it."""

    def __init__(self, detail: str, *, rule: str, field: str | None = None):
        super().__init__(detail, rule=rule, **({"field": field} if field else {}))


class TransitionRefused(DomainError):
    """The lifecycle does not allow this now (HTTP 409); `allowed` lists what it does allow."""

    def __init__(self, detail: str, *, allowed: list[str], missing: list[str] | None = None):
        extra = {"allowed": allowed}
        if missing:
            extra["missing"] = missing
        super().__init__(detail, **extra)


class StaleWrite(DomainError):
    """The row changed since the caller read it (HTTP 409): `version` is the current one, so
    the caller reloads and decides again instead of overwriting someone else's change."""

    def __init__(self, detail: str, *, version: int):
        super().__init__(detail, version=version)
