"""Webhook targets that fail, then recover: 500, 429 with Retry-After, a target that reads the
body and answers after the client's timeout, and one that accepts and never answers. Pages,
outgoing webhook deliveries and team (Slack-style) posts, all sent by a real Celery worker, are
retried with backoff (Retry-After honoured) until each is delivered, in order per incident for
outgoing webhooks.

Delivery is at least once. A target that got the body but answered after the timeout receives
the same delivery again; receivers dedupe by the Idempotency-Key header (the delivery id), and
this test counts by it. The platform's own record has each delivery sent exactly once."""

import json
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from comms.models import Delivery, Update
from comms.services import deliveries
from incidents.models import ContactMethod, Deadline, Incident, Page, Team
from integrations.models import WebhookDelivery, WebhookSubscription

from .conftest import (
    assert_each_fired_once,
    by_status,
    firing_report,
    open_p1_incidents_all_due,
    people,
    wait_for,
)

INCIDENTS = 3  # 18 deadlines: 15 escalations x 4 subscriptions, the pages they write, 3 posts
TIMEOUT = 1.0  # the worker's TENSAFE_OUTBOUND_TIMEOUT_SECONDS
RETRY_AFTER = 4  # seconds, above the first backoff (2 s): its wait is Retry-After's
MODES = ("500", "429", "slow", "hang")


def _team_posts(incidents: list[Incident], url: str) -> None:
    """An internal update per incident with one team webhook post each, written as
    comms.services.updates writes them and left for the outbox sweep to hand over (the test
    process has no broker of the worker's to hand them to)."""
    team = Team.objects.get_or_create(slug="faults", defaults={"name": "Faults"})[0]
    past = timezone.now() - timedelta(seconds=deliveries.POLICY.requeue_grace_seconds + 1)
    for incident in incidents:
        update = Update.objects.create(
            incident=incident, channel="internal", text="Still investigating.", posted_at=past
        )
        Delivery.objects.create(
            incident=incident,
            update=update,
            team=team,
            channel="slack",
            target=url,
            subject=f"{incident.reference} status update",
            body=update.text,
            idempotency_key=f"inc{incident.pk}:upd{update.pk}:team{team.pk}",
            next_attempt_at=past,
            created_at=past,
        )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_failing_targets_get_everything_once_they_recover(
    celery_worker_process, dedicated_broker, sweeps, flaky_target
):
    target = flaky_target(failures=1, retry_after=RETRY_AFTER, slow=TIMEOUT * 2)
    # Pages: each person's webhook fails one way.
    staff = people()
    for mode, user in zip(MODES, staff.values(), strict=True):
        ContactMethod.objects.filter(user=user).update(
            kind="webhook", target=f"{target.base}/{mode}/{user.username}", secret="s3cret"
        )
    # Outgoing webhooks: one subscription per way of failing.
    for mode in MODES:
        WebhookSubscription.objects.create(
            name=f"target-{mode}", url=f"{target.base}/{mode}/hook", events=["escalated"]
        )
    incidents = open_p1_incidents_all_due(INCIDENTS, actor=staff["engineering_manager"])
    _team_posts(incidents, f"{target.base}/500/team")
    total = Deadline.objects.filter(status="pending").count()

    broker = dedicated_broker()
    worker = celery_worker_process(
        broker,
        concurrency=4,
        extra_env={
            "TENSAFE_OUTBOUND_ALLOWLIST": "127.0.0.1",
            "TENSAFE_OUTBOUND_TIMEOUT_SECONDS": str(TIMEOUT),
        },
    )
    started = time.monotonic()
    sweeps(broker, every=1.0)
    sweeps(broker, every=2.0, entry="sweep-outbox")

    def everything_sent():
        rows = (
            Page.objects.count(),
            WebhookDelivery.objects.count(),
            Delivery.objects.count(),
        )
        sent = (
            Page.objects.filter(status="sent").count(),
            WebhookDelivery.objects.filter(status="sent").count(),
            Delivery.objects.filter(status="sent").count(),
        )
        return all(rows) and rows == sent and not Deadline.objects.filter(status="pending").exists()

    wait_for(
        everything_sent,
        timeout=150,
        interval=0.25,
        what=lambda: (
            f"everything sent: pages {by_status(Page)}, webhooks {by_status(WebhookDelivery)}, "
            f"team posts {by_status(Delivery)}\n{worker.tail()}"
        ),
    )
    elapsed = time.monotonic() - started
    worker.stop()

    # The platform's record: every row sent once, after exactly one failed attempt.
    assert_each_fired_once(firing_report(), total)
    rows = [
        *Page.objects.values("idempotency_key", "attempts", "target"),
        *WebhookDelivery.objects.values(
            "idempotency_key", "attempts", target=F("subscription__url")
        ),
        *Delivery.objects.values("idempotency_key", "attempts", "target"),
    ]
    assert WebhookDelivery.objects.count() == INCIDENTS * 5 * len(MODES)
    assert {r["attempts"] for r in rows} == {2}, "one failure, then delivered"
    keys = {r["idempotency_key"] for r in rows}
    assert len(keys) == len(rows)
    mode_of = {r["idempotency_key"]: r["target"].split("/")[3] for r in rows}
    assert set(Counter(mode_of.values())) == set(MODES)

    # What the targets saw, by delivery id: nothing lost; each processed once, except what a
    # slow target read before the client gave up, which came again (at least once).
    processed = target.processed()
    assert set(processed) == keys, "0 lost"
    duplicated = {k: n for k, n in processed.items() if n > 1 and mode_of[k] != "slow"}
    assert not duplicated, f"processed twice: {duplicated}"
    redelivered = {k for k, n in processed.items() if n == 2}
    assert redelivered == {k for k, m in mode_of.items() if m == "slow"}

    # Backoff: the second attempt waited at least the first backoff (2 s) after the first
    # failed; after a 429, at least its Retry-After. The target stamps a request when its
    # thread gets to it, which on a loaded machine can be a few hundred ms after it was sent:
    # half a second of slack (without the backoff the wait would be a second or more short).
    for key, mode in mode_of.items():
        first, second = target.attempts(key)
        wait = second.at - first.at
        least = {"429": RETRY_AFTER, "500": 2}.get(mode, TIMEOUT + 2)
        assert wait >= least - 0.5, (key, mode, wait)

    # Outgoing webhooks: in order per incident at each target.
    order = defaultdict(list)
    for hit in target.hits:
        if hit.path.endswith("/hook") and hit.answer in ("200", "slow"):
            event = json.loads(hit.body)
            order[(hit.path, event["incident"]["id"])].append(event["timeline_event"]["id"])
    for (path, incident), events in order.items():
        firsts = list(dict.fromkeys(events))
        assert firsts == sorted(firsts), (path, incident, events)
    assert not WebhookSubscription.objects.filter(enabled=False).exists()
    print(
        f"{len(rows)} deliveries ({Counter(mode_of.values())}), {len(target.hits)} requests, "
        f"{len(redelivered)} redelivered after a timeout; all delivered in {elapsed:.1f} s"
    )
