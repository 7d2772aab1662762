"""The incident page and the actions on it. Each action calls one service; a refusal is shown
next to the form that asked (htmx swaps that section; without JavaScript the whole page is
rendered again with the error). Sections that change what Resolve needs also send the actions
panel out of band, so its blockers stay true."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from incidents import services
from incidents.errors import DomainError
from incidents.selectors import (
    incident_detail_etag,
    incident_detail_version,
    incident_get_for_user,
    incident_visible_to,
)
from incidents.states import Status

from .. import partners
from ..forms import (
    ChecklistForm,
    EscalateForm,
    MitigationForm,
    NoteForm,
    PageUserForm,
    PublicTextForm,
    RoleForm,
    RollbackForm,
    SecurityFlagForm,
    TransitionForm,
)
from ..procedures import MITIGATIONS, ROLLBACK_STEPS, rollback_command, symptom_mitigations
from ..selectors import incident_page, incident_timeline_after
from .common import attach_error, domain_error_text, is_htmx, status_for

TIMELINE_POLL_SECONDS = 3
LIVE_POLL_SECONDS = 3


def _reference_context(request, ctx) -> dict:
    """The 7.2 mitigations for the chosen symptom and the 7.3 rollback command."""
    mitigation_form = MitigationForm(request.GET or None)
    symptom = mitigation_form.cleaned_data["symptom"] if mitigation_form.is_valid() else ""
    services_ = ctx["services"]
    rollback_form = RollbackForm(
        request.GET if "deployment" in request.GET else None,
        initial={"deployment": services_[0].slug if services_ else ""},
    )
    name = (
        rollback_form.cleaned_data["deployment"]
        if rollback_form.is_bound and rollback_form.is_valid()
        else rollback_form.initial["deployment"]
    )
    command = rollback_command(name) if name else None
    if name and command is None and rollback_form.is_bound:
        rollback_form.add_error(
            "deployment",
            "Not a Kubernetes deployment name: lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit, at most 63 characters.",
        )
    return {
        "mitigation_form": mitigation_form,
        "symptom": symptom,
        "mitigations": symptom_mitigations(symptom) if symptom else None,
        "mitigation_table": MITIGATIONS,
        "rollback_form": rollback_form,
        "rollback_command": command,
        "rollback_steps": ROLLBACK_STEPS,
    }


def _live_version(request, pk) -> str:
    """The incident page's version for `request.user`: the API detail's (one query that also
    decides visibility), which covers every panel; Http404 when the incident is not theirs to
    see."""
    version = incident_detail_version(request.user, pk, timezone.now())
    if version is None:
        raise Http404("No incident with that id.")
    return incident_detail_etag(version).strip('"')


def _context(request, pk, live_version: str | None = None, **extra) -> dict:
    # Read before the panels: a change that lands while they are read makes the next check
    # differ, so the watcher is never left on a page older than its version says.
    live_version = live_version or _live_version(request, pk)
    ctx = incident_page(request.user, pk)
    ctx.update(
        {
            "role_form": RoleForm(),
            "note_form": NoteForm(),
            "escalate_form": EscalateForm(targets=ctx["escalation_targets"]),
            "page_form": PageUserForm(),
            "security_form": SecurityFlagForm(
                initial={"security": "true" if ctx["security"].to else "false"}
            ),
            "public_text_form": PublicTextForm(
                initial={
                    "public_title": ctx["incident"].public_title,
                    "public_text": ctx["incident"].public_text,
                }
            ),
            "timeline_poll_seconds": TIMELINE_POLL_SECONDS,
            "live_version": live_version,
            "live_poll_seconds": LIVE_POLL_SECONDS,
        }
    )
    ctx.update(_reference_context(request, ctx))
    ctx.update(extra)
    return ctx


def _page(request, pk, status=200, **extra):
    ctx = _context(request, pk, **extra)
    ctx["slack_channel"] = partners.slack_channel_state(ctx["incident"])
    return render(request, "dashboard/incident.html", ctx, status=status)


def _section(request, pk, template, status=200, with_actions=False, **extra):
    """An htmx response: one section, and the actions panel out of band when asked."""
    ctx = _context(request, pk, **extra)
    response = render(request, template, ctx, status=status)
    if with_actions:
        ctx["oob"] = True
        response.write(render(request, "dashboard/_actions.html", ctx).content)
    return response


def _back(pk, anchor=""):
    return redirect(reverse("dashboard:incident", args=[pk]) + (f"#{anchor}" if anchor else ""))


@login_required
@require_GET
def incident_detail(request, pk):
    return _page(request, pk)


@login_required
@require_GET
def incident_changes(request, pk):
    """What everyone watching the incident page asks every LIVE_POLL_SECONDS, with the version
    their page shows (`v`). Nothing new: 204, after one query, nothing rendered. Otherwise
    every live panel (status and actions, facts, roles, checklists, security, escalation
    contacts, deadlines, communications) swapped out of band, the poller with the new
    version, and the timeline asked to fetch its new events (HX-Trigger). A panel the watcher
    is typing in is left as it is (static/js/dashboard.js)."""
    live_version = _live_version(request, pk)
    if request.GET.get("v") == live_version:
        return HttpResponse(status=204)
    ctx = _context(request, pk, live_version=live_version, oob=True)
    response = render(request, "dashboard/_live.html", ctx)
    response["HX-Trigger"] = "timeline-refresh"
    return response


@login_required
@require_POST
def incident_acknowledge(request, pk):
    try:
        services.incident_acknowledge(actor=request.user, incident_id=pk, via="dashboard")
    except (DomainError, PermissionDenied) as exc:
        return _page(request, pk, status=status_for(exc), action_error=domain_error_text(exc))
    messages.success(request, "Acknowledged.")
    return _back(pk)


@login_required
@require_POST
def incident_transition(request, pk):
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _page(request, pk, status=400, action_error="Choose a status to move to.")
    to = form.cleaned_data["to"]
    try:
        services.incident_transition(
            actor=request.user, incident_id=pk, to=to, reason=form.cleaned_data["reason"]
        )
    except (DomainError, PermissionDenied) as exc:
        return _page(
            request,
            pk,
            status=status_for(exc),
            action_error=domain_error_text(exc),
            action_missing=getattr(exc, "extra", {}).get("missing", []),
        )
    messages.success(request, f"Status: {Status(to).label}.")
    return _back(pk)


def _role_action(request, pk, relieve: bool):
    form = RoleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        who = {"actor": request.user, "incident_id": pk, "role": data["role"]}
        try:
            if relieve:
                services.incident_relieve_role(**who, user=data["username"])
            else:
                services.incident_assign_role(
                    **who,
                    user=data["username"],
                    override=data["override"],
                    override_reason=data["override_reason"],
                )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            if is_htmx(request):
                return _section(request, pk, "dashboard/_roles.html", with_actions=True)
            return _back(pk, "roles")
    else:
        status = 400
    if is_htmx(request):
        return _section(request, pk, "dashboard/_roles.html", status=status, role_form=form)
    return _page(request, pk, status=status, role_form=form)


@login_required
@require_POST
def incident_assign_role(request, pk):
    return _role_action(request, pk, relieve=False)


@login_required
@require_POST
def incident_relieve_role(request, pk):
    return _role_action(request, pk, relieve=True)


@login_required
@require_POST
def incident_checklist_set(request, pk, item_id):
    form = ChecklistForm(request.POST)
    error = ""
    status = 200
    if not form.is_valid():
        error, status = "Say whether the item is done.", 400
    else:
        try:
            services.incident_checklist_set(
                actor=request.user, incident_id=pk, item_id=item_id, done=form.cleaned_data["done"]
            )
        except (DomainError, PermissionDenied) as exc:
            error, status = domain_error_text(exc), status_for(exc)
    if is_htmx(request):
        return _section(
            request,
            pk,
            "dashboard/_checklists.html",
            status,
            with_actions=True,
            checklist_error=error,
        )
    if error:
        return _page(request, pk, status=status, checklist_error=error)
    return _back(pk, "checklists")


@login_required
@require_POST
def incident_add_note(request, pk):
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.incident_add_note(
                actor=request.user, incident_id=pk, text=form.cleaned_data["text"]
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            if is_htmx(request):
                response = _section(request, pk, "dashboard/_note_form.html")
                response["HX-Trigger"] = "timeline-refresh"
                return response
            return _back(pk, "timeline")
    else:
        status = 400
    if is_htmx(request):
        return _section(request, pk, "dashboard/_note_form.html", status=status, note_form=form)
    return _page(request, pk, status=status, note_form=form)


@login_required
@require_GET
def incident_timeline(request, pk):
    """The events after `after` (an event id), for the page's 3-second poll to append."""
    incident = incident_get_for_user(request.user, pk)
    after = request.GET.get("after", "0")
    if not after.isdigit():
        return HttpResponse("after must be an event id.", status=400, content_type="text/plain")
    events = incident_timeline_after(incident, int(after))
    return render(request, "dashboard/_timeline_events.html", {"timeline": events})


@login_required
@require_POST
def incident_escalate(request, pk):
    ctx = incident_page(request.user, pk)
    form = EscalateForm(request.POST, targets=ctx["escalation_targets"])
    sent = ""
    status = 400
    if form.is_valid():
        try:
            event, _ = services.incident_escalate(
                actor=request.user, incident_id=pk, **form.cleaned_data
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            sent, status = event.data["request"], 200
            form = EscalateForm(targets=ctx["escalation_targets"])
            if not is_htmx(request):
                messages.success(request, event.text)
                return _back(pk, "escalate")
    if is_htmx(request):
        return _section(
            request,
            pk,
            "dashboard/_escalate.html",
            status=status,
            escalate_form=form,
            escalation_sent=sent,
        )
    return _page(request, pk, status=status, escalate_form=form)


@login_required
@require_POST
def incident_page_user(request, pk):
    form = PageUserForm(request.POST)
    sent = ""
    status = 400
    if form.is_valid():
        try:
            event, _ = services.incident_page_user(
                actor=request.user,
                incident_id=pk,
                user=form.cleaned_data["username"],
                reason=form.cleaned_data["reason"],
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            sent, status, form = event.text, 200, PageUserForm()
            if not is_htmx(request):
                messages.success(request, sent)
                return _back(pk, "page-user")
    if is_htmx(request):
        return _section(
            request, pk, "dashboard/_page_user.html", status=status, page_form=form, page_sent=sent
        )
    return _page(request, pk, status=status, page_form=form)


@login_required
@require_POST
def incident_bridge_request(request, pk):
    """The IC asks for a bridge (6.1: P3/P4 get one when the IC asks)."""
    try:
        services.incident_bridge_request(actor=request.user, incident_id=pk)
    except (DomainError, PermissionDenied) as exc:
        return _page(request, pk, status=status_for(exc), bridge_error=domain_error_text(exc))
    messages.success(request, "Bridge opened.")
    return _back(pk, "bridge")


@login_required
@require_POST
def incident_page_next(request, pk, response_id):
    """Page the next escalation contact after a late one (5.3)."""
    try:
        event, _ = services.escalation_page_next(
            actor=request.user, incident_id=pk, response_id=response_id
        )
    except (DomainError, PermissionDenied) as exc:
        return _page(request, pk, status=status_for(exc), responses_error=domain_error_text(exc))
    messages.success(request, event.text)
    return _back(pk, "responses")


@login_required
@require_GET
def incident_reference(request, pk, part):
    """The 7.2 mitigations or 7.3 rollback fragment, for htmx (without it, the page itself
    takes the same GET parameters)."""
    template = {
        "mitigations": "dashboard/_mitigation_result.html",
        "rollback": "dashboard/_rollback_result.html",
    }
    return _section(request, pk, template[part])


@login_required
@require_GET
def incident_comms_draft(request, pk):
    """The 6.2 template for the chosen channel and state, prefilled (comms' draft)."""
    incident = incident_get_for_user(request.user, pk)
    composer = partners.comms_draft(
        request.user, incident, request.GET.get("channel", ""), request.GET.get("template", "")
    )
    if composer is None:
        raise Http404("Communications are not available.")
    return render(request, "dashboard/_comms_text.html", {"composer": composer})


@login_required
@require_POST
def incident_comms_post(request, pk):
    incident = incident_get_for_user(request.user, pk)
    if partners.comms_draft(request.user, incident, "", "") is None:
        raise Http404("Communications are not available.")
    channel = request.POST.get("channel", "")
    template = request.POST.get("template", "")
    text = request.POST.get("text")
    text = text.strip() if text is not None else None
    error, sent, status = "", "", 200
    # A security incident's public post is its approved public words (shown read-only, not
    # posted back); text sent anyway is comms' to refuse.
    if text == "" or (text is None and not partners.comms_text_fixed(incident, channel)):
        error, status = "The update's text must not be empty.", 400
    else:
        try:
            update = partners.comms_post(
                actor=request.user, incident_id=pk, channel=channel, template=template, text=text
            )
        except (DomainError, PermissionDenied) as exc:
            error, status = domain_error_text(exc), status_for(exc)
        else:
            sent = f"Posted: {update.get_channel_display()} ({update.get_template_display()})."
            if not is_htmx(request):
                messages.success(request, sent)
                return _back(pk, "comms")
    if is_htmx(request):
        return _section(
            request, pk, "dashboard/_comms.html", status, comms_error=error, comms_sent=sent
        )
    return _page(request, pk, status=status, comms_error=error)


@login_required
@require_POST
def incident_security(request, pk):
    """Make the incident a security incident or an ordinary one again. Restricting it may take
    it out of this user's sight: then the answer is the board, not a 404."""
    form = SecurityFlagForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            incident = services.incident_security_set(
                actor=request.user,
                incident_id=pk,
                security=form.cleaned_data["security"],
                reason=form.cleaned_data["reason"],
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            what = (
                "a security incident (restricted)" if incident.security else "an ordinary incident"
            )
            messages.success(request, f"{incident.reference} is now {what}.")
            if incident_visible_to(request.user, incident):
                return _back(pk, "security")
            return redirect("dashboard:board")
    return _page(request, pk, status=status, security_form=form)


@login_required
@require_POST
def incident_public_text(request, pk):
    """Set and approve a security incident's public title and text (security group)."""
    form = PublicTextForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.incident_public_text_approve(
                actor=request.user, incident_id=pk, **form.cleaned_data
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
            status = status_for(exc)
        else:
            messages.success(request, "Public title and text approved.")
            return _back(pk, "security")
    return _page(request, pk, status=status, public_text_form=form)
