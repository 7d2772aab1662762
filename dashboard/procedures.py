"""Tables of the procedures that the incident page shows as reference, as data in one place.
`tests/dashboard/test_procedures_tables.py` parses the procedures document and holds these to it.
"""

from __future__ import annotations

import re

# 7.2 Common Mitigation Actions: symptom -> quick mitigations, in the document's order.
MITIGATIONS: dict[str, list[str]] = {
    "High error rate": ["Rollback", "traffic shift", "circuit breaker"],
    "High latency": ["Scale up", "traffic shed", "cache"],
    "Resource exhaustion": ["Restart", "scale", "rate limit"],
    "Dependency failure": ["Failover", "circuit breaker", "cache"],
    "Security incident": ["Isolate", "revoke", "block"],
}

# 7.3 step 3 with the namespace of 9.3's quick reference ("-n production").
ROLLBACK_NAMESPACE = "production"
ROLLBACK_TEMPLATE = "kubectl rollout undo deployment/{name} -n {namespace}"
ROLLBACK_STEPS = [
    "Identify deployment to rollback",
    "Notify IC of rollback plan",
    "Execute rollback",
    "Monitor for improvement",
    "Declare mitigation if successful",
]

# A Kubernetes object name (RFC 1123 label): what may follow `deployment/` in a command that an
# IC pastes into a shell, so nothing else can ride along with it.
_DEPLOYMENT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def symptom_mitigations(symptom: str) -> list[str] | None:
    """The quick mitigations of 7.2 for a symptom, None for a symptom the table does not know."""
    return MITIGATIONS.get(symptom)


def rollback_command(name: str) -> str | None:
    """7.3's rollback command for deployment `name`, or None when `name` is not a valid
    Kubernetes deployment name."""
    name = (name or "").strip()
    if not _DEPLOYMENT_NAME.match(name):
        return None
    return ROLLBACK_TEMPLATE.format(name=name, namespace=ROLLBACK_NAMESPACE)
