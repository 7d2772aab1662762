"""REST API for post-incident reviews and action items (mounted under /api/v1/). One view per
operation; every read goes through pir.selectors (so reviews of restricted incidents are 404
to those who may not see the incident) and every write through pir.services."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.fields import ID_SCHEMA, id_param, query_text
from incidents.api.schema import CONFLICT, NOT_FOUND, RULE

from . import services
from .agenda import AGENDA, agenda_total_minutes
from .models import ActionPriority, ActionStatus, PirStatus
from .render.exports import action_items_csv, action_items_jira
from .render.markdown_export import pir_markdown
from .selectors import (
    action_item_get_for_user,
    action_item_metrics,
    action_items_for_user,
    pir_attendees,
    pir_detail_for_user,
    pir_entries,
    pir_get_for_user,
    pir_list_for_user,
)
from .serializers import (
    ActionItemInputSerializer,
    ActionItemOutputSerializer,
    ActionItemUpdateInputSerializer,
    ActionMetricsSerializer,
    PirCreateInputSerializer,
    PirDetailOutputSerializer,
    PirListOutputSerializer,
    PirTransitionInputSerializer,
    PirUpdateInputSerializer,
    StaleWriteOutputSerializer,
    TimelineEntryInputSerializer,
    TimelineEntryOutputSerializer,
    TimelineEntryUpdateInputSerializer,
)

STALE = OpenApiResponse(
    StaleWriteOutputSerializer,
    description="Changed by someone else since you read it: `version` is the current one.",
)


class _FileRenderer(BaseRenderer):
    """Lets a client ask for the file type with Accept (or ?format=); the views send the file
    themselves, and an error goes out as JSON (`_FileApi`)."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PdfRenderer(_FileRenderer):
    media_type, format = "application/pdf", "pdf"


class MarkdownRenderer(_FileRenderer):
    media_type, format = "text/markdown", "md"


class CsvRenderer(_FileRenderer):
    media_type, format = "text/csv", "csv"


class _FileApi(APIView):
    """A file download whose errors are JSON with a JSON Content-Type, like every other API
    error, whatever file type the client asked for."""

    def perform_content_negotiation(self, request, force=False):
        # DRF takes an empty ?format= as no format at all; the schema lists the formats.
        if not force and request.query_params.get("format") == "":
            raise NotFound("No such format: give one of the listed formats, or no ?format=.")
        return super().perform_content_negotiation(request, force)

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Query parameters: absent means "any"; present, a value must be valid (an empty one too).
ID = ID_SCHEMA
JIRA_KEY = re.compile(r"[A-Za-z0-9_]{1,20}")


def _choice_param(request, name, choices):
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in choices:
        raise serializers.ValidationError({name: [f"{name} must be one of {', '.join(choices)}."]})
    return value


def _detail(request, pir_id, code=status.HTTP_200_OK) -> Response:
    return Response(PirDetailOutputSerializer(pir_detail_for_user(request.user, pir_id)).data, code)


def _attachment(content, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- reviews ------------------------------------------------------------------------------------
class PirListCreateApi(GenericAPIView):
    serializer_class = PirListOutputSerializer

    def get_queryset(self):
        return pir_list_for_user(self.request.user)

    @extend_schema(
        summary="Post-incident reviews visible to you",
        parameters=[
            OpenApiParameter("incident", ID, description="Reviews of this incident"),
            OpenApiParameter("status", str, enum=PirStatus.values),
        ],
        responses=PirListOutputSerializer(many=True),
    )
    def get(self, request):
        qs = pir_list_for_user(request.user).order_by("-created_at", "-id")
        incident_id = id_param(request, "incident")
        if incident_id is not None:
            qs = qs.filter(incident_id=incident_id)
        wanted = _choice_param(request, "status", PirStatus.values)
        if wanted:
            qs = qs.filter(status=wanted)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PirListOutputSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a review by hand (the optional P3 review; the incident's IC)",
        request=PirCreateInputSerializer,
        responses={201: PirDetailOutputSerializer, 400: RULE, 404: NOT_FOUND},
    )
    def post(self, request):
        data = _valid(PirCreateInputSerializer, request)
        pir = services.pir_create(actor=request.user, incident_id=data["incident"])
        return _detail(request, pir.pk, status.HTTP_201_CREATED)


class PirDetailApi(APIView):
    @extend_schema(summary="A review, every section", responses=PirDetailOutputSerializer)
    def get(self, request, pk):
        return _detail(request, pk)

    @extend_schema(
        summary="Edit sections (Markdown; lists are lists of Markdown strings)",
        request=PirUpdateInputSerializer,
        responses={200: PirDetailOutputSerializer, 400: RULE, 409: CONFLICT},
    )
    def patch(self, request, pk):
        data = _valid(PirUpdateInputSerializer, request)
        if "appendix_links" in data:
            data["appendix_links"] = [dict(link) for link in data["appendix_links"]]
        services.pir_update(actor=request.user, pir_id=pk, **data)
        return _detail(request, pk)


class PirTransitionApi(APIView):
    @extend_schema(
        summary="Move the review: draft -> in_review -> published (or back to draft)",
        request=PirTransitionInputSerializer,
        responses={200: PirDetailOutputSerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        data = _valid(PirTransitionInputSerializer, request)
        services.pir_transition(actor=request.user, pir_id=pk, to=data["to"])
        return _detail(request, pk)


class PirTimelineApi(APIView):
    @extend_schema(
        summary="The review's timeline rows", responses=TimelineEntryOutputSerializer(many=True)
    )
    def get(self, request, pk):
        pir = pir_get_for_user(request.user, pk)
        return Response(TimelineEntryOutputSerializer(pir_entries(pir), many=True).data)

    @extend_schema(
        summary="Add a row",
        request=TimelineEntryInputSerializer,
        responses={201: TimelineEntryOutputSerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        data = _valid(TimelineEntryInputSerializer, request)
        entry = services.pir_entry_add(actor=request.user, pir_id=pk, **data)
        return Response(TimelineEntryOutputSerializer(entry).data, status.HTTP_201_CREATED)


class PirTimelineEntryApi(APIView):
    @extend_schema(
        summary="Correct a row (it keeps its source event id)",
        request=TimelineEntryUpdateInputSerializer,
        responses={200: TimelineEntryOutputSerializer, 409: CONFLICT},
    )
    def patch(self, request, pk, entry_id):
        data = _valid(TimelineEntryUpdateInputSerializer, request)
        entry = services.pir_entry_update(actor=request.user, pir_id=pk, entry_id=entry_id, **data)
        return Response(TimelineEntryOutputSerializer(entry).data)

    @extend_schema(summary="Remove a row", responses={204: None, 409: CONFLICT})
    def delete(self, request, pk, entry_id):
        services.pir_entry_delete(actor=request.user, pir_id=pk, entry_id=entry_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PirAgendaApi(APIView):
    @extend_schema(
        summary="The review meeting: agenda (8.3) and attendees (8.1)",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, pk):
        pir = pir_get_for_user(request.user, pk)
        return Response(
            {
                "total_minutes": agenda_total_minutes(),
                "agenda": [
                    {"title": p.title, "minutes": p.minutes, "points": list(p.points)}
                    for p in AGENDA
                ],
                "attendees": pir_attendees(pir),
            }
        )


class PirPdfApi(_FileApi):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        summary="The review as PDF",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        # WeasyPrint is loaded by the first PDF, not with the URLconf (pir/render/document.py).
        from .render.pdf import pir_pdf

        pir = pir_get_for_user(request.user, pk)
        return _attachment(pir_pdf(pir), "application/pdf", f"{pir.reference}.pdf")


class PirMarkdownApi(_FileApi):
    renderer_classes = [JSONRenderer, MarkdownRenderer]

    @extend_schema(
        summary="The review as Markdown (the 8.2 template filled)",
        responses={(200, "text/markdown"): OpenApiTypes.STR},
    )
    def get(self, request, pk):
        pir = pir_get_for_user(request.user, pk)
        return _attachment(
            pir_markdown(pir).encode(), "text/markdown; charset=utf-8", f"{pir.reference}.md"
        )


# --- action items -------------------------------------------------------------------------------
class PirActionItemsApi(APIView):
    @extend_schema(
        summary="The review's action items", responses=ActionItemOutputSerializer(many=True)
    )
    def get(self, request, pk):
        pir = pir_get_for_user(request.user, pk)
        items = action_items_for_user(request.user).filter(pir=pir)
        return Response(ActionItemOutputSerializer(items, many=True).data)

    @extend_schema(
        summary="Add an action item (label incident-action)",
        description="The review's author, the incident's IC or an SRE lead may; `owner` and "
        "`due_date` are required (procedures 8.2, 8.3).",
        request=ActionItemInputSerializer,
        responses={201: ActionItemOutputSerializer, 400: RULE},
    )
    def post(self, request, pk):
        data = _valid(ActionItemInputSerializer, request)
        item = services.action_item_create(actor=request.user, pir_id=pk, **data)
        return Response(ActionItemOutputSerializer(item).data, status.HTTP_201_CREATED)


class PirActionItemApi(APIView):
    @extend_schema(summary="An action item", responses=ActionItemOutputSerializer)
    def get(self, request, pk, item_id):
        pir = pir_get_for_user(request.user, pk)
        return Response(
            ActionItemOutputSerializer(action_item_get_for_user(request.user, pir, item_id)).data
        )

    @extend_schema(
        summary="Change an action item (status done records completed_at)",
        description="The item's owner, the review's author, the incident's IC or an SRE lead "
        "may. It must keep an owner and a due date (procedures 8.2, 8.3). Send the `version` "
        "you read to be refused (409) rather than overwrite someone else's change.",
        request=ActionItemUpdateInputSerializer,
        responses={200: ActionItemOutputSerializer, 400: RULE, 409: STALE},
    )
    def patch(self, request, pk, item_id):
        data = _valid(ActionItemUpdateInputSerializer, request)
        item = services.action_item_update(actor=request.user, pir_id=pk, item_id=item_id, **data)
        return Response(ActionItemOutputSerializer(item).data)

    @extend_schema(summary="Remove an action item", responses={204: None})
    def delete(self, request, pk, item_id):
        services.action_item_delete(actor=request.user, pir_id=pk, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


ACTION_FILTERS = [
    OpenApiParameter("pir", ID),
    OpenApiParameter("incident", ID),
    OpenApiParameter("status", str, enum=ActionStatus.values),
    OpenApiParameter("priority", str, enum=ActionPriority.values),
    OpenApiParameter("severity", str, enum=["P1", "P2", "P3", "P4"]),
    OpenApiParameter("owner", str, description="username"),
    OpenApiParameter("team", str, description="owner's team slug"),
]


def _filtered_items(request):
    qs = action_items_for_user(request.user).order_by("pir_id", "priority", "due_date", "id")
    for name, lookup in (("pir", "pir_id"), ("incident", "incident_id")):
        value = id_param(request, name)
        if value is not None:
            qs = qs.filter(**{lookup: value})
    for name, lookup, choices in (
        ("status", "status", ActionStatus.values),
        ("priority", "priority", ActionPriority.values),
        ("severity", "incident__severity", ["P1", "P2", "P3", "P4"]),
    ):
        value = _choice_param(request, name, choices)
        if value:
            qs = qs.filter(**{lookup: value})
    if owner := query_text(request, "owner"):
        qs = qs.filter(owner__username=owner)
    if team := query_text(request, "team"):
        qs = qs.filter(owner__team__slug=team)
    return qs.select_related("incident", "pir", "owner__team")


class ActionItemListApi(GenericAPIView):
    serializer_class = ActionItemOutputSerializer

    def get_queryset(self):
        return action_items_for_user(self.request.user)

    @extend_schema(
        summary="Action items across reviews",
        parameters=ACTION_FILTERS,
        operation_id="pirs_action_items_list",
        responses=ActionItemOutputSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(_filtered_items(request))
        return self.get_paginated_response(ActionItemOutputSerializer(page, many=True).data)


class ActionItemMetricsApi(APIView):
    @extend_schema(
        summary="Completion rate and time to complete, by severity and team (8.4)",
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME)],
        responses=ActionMetricsSerializer,
    )
    def get(self, request):
        since = None
        if request.query_params.get("since") is not None:
            field = serializers.DateTimeField()
            try:
                since = field.to_internal_value(request.query_params["since"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"since": exc.detail}) from None
        return Response(action_item_metrics(request.user, since=since))


class ActionItemCsvApi(_FileApi):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        summary="Action items as CSV (Jira CSV importer columns)",
        parameters=ACTION_FILTERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request):
        text = action_items_csv(_filtered_items(request))
        stamp = timezone.now().strftime("%Y%m%d")
        return _attachment(text.encode(), "text/csv; charset=utf-8", f"action-items-{stamp}.csv")


class ActionItemJiraApi(APIView):
    @extend_schema(
        summary="Action items in Jira's JSON importer shape",
        parameters=[
            *ACTION_FILTERS,
            OpenApiParameter(
                "project",
                {"type": "string", "pattern": f"^{JIRA_KEY.pattern}$"},
                description="Jira project key (default OPS)",
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        key = request.query_params.get("project", "OPS")
        if not JIRA_KEY.fullmatch(key):
            raise serializers.ValidationError({"project": ["A Jira project key, e.g. OPS."]})
        return Response(action_items_jira(_filtered_items(request), project_key=key.upper()))
