"""The browser side of linking Slack users (comms/services/identities.py): the one-time link
answered in Slack (`/chat/link/<token>/`: sign in, see who will act as you, confirm with a
POST) and the account page where people see and remove their own links (`/account/chat/`)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .models import ChatIdentity
from .selectors import chat_identity_list_for_user
from .services import ChatLinkError, chat_identity_unlink, chat_link_confirm, chat_link_get


@login_required
@require_http_methods(["GET", "POST"])
def chat_link_view(request, token):
    """GET shows which Slack user in which workspace will act as the signed-in person; only
    their POST (CSRF-protected) links it, so opening a link someone sent links nothing."""
    try:
        link = chat_link_get(token, user=request.user)
        if request.method == "POST":
            identity = chat_link_confirm(actor=request.user, token=token)
            return render(request, "comms/chat_link.html", {"identity": identity})
    except ChatLinkError as refused:
        return render(
            request, "comms/chat_link.html", {"error": str(refused)}, status=refused.status
        )
    return render(request, "comms/chat_link.html", {"link": link})


@login_required
@require_GET
def chat_identities_view(request):
    return render(
        request,
        "comms/chat_identities.html",
        {"identities": chat_identity_list_for_user(request.user)},
    )


@login_required
@require_POST
def chat_unlink_view(request, pk):
    try:
        chat_identity_unlink(actor=request.user, identity_id=pk)
    except ChatIdentity.DoesNotExist:
        raise Http404("You have no such chat link.") from None
    messages.success(request, "Unlinked: that Slack user's commands no longer act as you.")
    return redirect("chat-identities")
