"""REST API (api-contract.md). One view per operation; every write calls a service, every
read goes through a selector, so the API cannot see or do more than the rules allow."""

import json

from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..errors import RuleViolation
from ..permissions import require_sre_lead
from ..selectors import (
    incident_checklist,
    incident_detail_etag,
    incident_detail_for_user,
    incident_detail_version,
    incident_get_for_user,
    incident_list_for_user,
    incident_timeline,
    incident_visible_to,
    service_list,
    user_list_for,
)
from ..triage import MissingAnswer, triage
from .detail import etag_matches, incident_detail_body, incident_detail_json
from .fields import MAX_ID
from .filters import IncidentFilter, IncidentOrdering
from .list_cache import incident_list_count, incident_list_json
from .list_rows import incident_list_ids, incident_list_rows_json
from .schema import CONFLICT, FORBIDDEN, RULE
from .serializers import (
    ChecklistItemInputSerializer,
    ChecklistItemOutputSerializer,
    IncidentDeclareInputSerializer,
    IncidentDetailOutputSerializer,
    IncidentOutputSerializer,
    IncidentUpdateInputSerializer,
    NoteInputSerializer,
    PublicTextInputSerializer,
    RoleInputSerializer,
    SecurityInputSerializer,
    SecurityOutputSerializer,
    ServiceOutputSerializer,
    TimelineEventOutputSerializer,
    TransitionInputSerializer,
    TriageInputSerializer,
    TriageOutputSerializer,
    UserCreateInputSerializer,
    UserOutputSerializer,
    triage_output,
)


def _detail_response(request, incident_id, code=status.HTTP_200_OK) -> Response:
    incident = incident_detail_for_user(request.user, incident_id)
    return Response(incident_detail_body(incident), status=code)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class IncidentListCreateApi(GenericAPIView):
    serializer_class = IncidentOutputSerializer
    filterset_class = IncidentFilter
    filter_backends = [*GenericAPIView.filter_backends, IncidentOrdering]

    def get_queryset(self):
        return incident_list_for_user(self.request.user)

    @extend_schema(
        summary="List incidents visible to you",
        responses=IncidentOutputSerializer(many=True),
    )
    def get(self, request):
        if request.accepted_renderer.format != "json":  # the browsable API: built each time
            return Response(json.loads(self._page()))
        return HttpResponse(
            incident_list_json(request, self._page), content_type="application/json"
        )

    def _page(self) -> bytes:
        # The rows IncidentOutputSerializer describes, written by PostgreSQL (list_rows.py),
        # and the count kept per filter (list_cache.py).
        incidents = incident_list_ids(self.filter_queryset(self.get_queryset()))
        page = self.paginator.paginate_lazily(
            incidents,
            self.request,
            view=self,
            count=lambda counted: incident_list_count(self.request, counted),
        )
        return self.paginator.get_paginated_json(incident_list_rows_json(page))

    @extend_schema(
        summary="Declare an incident",
        request=IncidentDeclareInputSerializer,
        responses={201: IncidentDetailOutputSerializer, 400: RULE},
    )
    def post(self, request):
        data = _valid(IncidentDeclareInputSerializer, request)
        incident = services.incident_declare(actor=request.user, **data)
        return _detail_response(request, incident.pk, status.HTTP_201_CREATED)


class IncidentDetailApi(APIView):
    @extend_schema(
        summary="An incident",
        description="Carries an `ETag`; a request whose `If-None-Match` names it (or `*`) is "
        "answered 304 with no body while nothing the body shows has changed.",
        responses={200: IncidentDetailOutputSerializer, 304: None},
    )
    def get(self, request, pk):
        if request.accepted_renderer.format != "json":  # the browsable API: built each time
            return _detail_response(request, pk)
        version = incident_detail_version(request.user, pk, timezone.now())
        if version is None:
            raise Http404("No incident with that id.")
        etag = incident_detail_etag(version)
        if etag_matches(request.headers.get("If-None-Match"), etag):
            return HttpResponseNotModified(headers={"ETag": etag})
        body = incident_detail_json(request.user, pk, etag)
        return HttpResponse(body, content_type="application/json", headers={"ETag": etag})

    @extend_schema(
        summary="Edit details or change severity (recorded on the timeline)",
        request=IncidentUpdateInputSerializer,
        responses={200: IncidentDetailOutputSerializer, 400: RULE, 409: CONFLICT},
    )
    def patch(self, request, pk):
        data = _valid(IncidentUpdateInputSerializer, request)
        services.incident_update(actor=request.user, incident_id=pk, **data)
        return _detail_response(request, pk)


class IncidentAcknowledgeApi(APIView):
    @extend_schema(summary="Acknowledge", request=None, responses=IncidentDetailOutputSerializer)
    def post(self, request, pk):
        services.incident_acknowledge(actor=request.user, incident_id=pk)
        return _detail_response(request, pk)


class IncidentBridgeApi(APIView):
    @extend_schema(
        summary="Ask for a bridge call (6.1: P3/P4 get one when the IC asks)",
        description="The incident's IC or an SRE lead. An incident that has a bridge keeps it "
        "and nothing changes; a resolved one is a 409.",
        request=None,
        responses={200: IncidentDetailOutputSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def post(self, request, pk):
        services.incident_bridge_request(actor=request.user, incident_id=pk)
        return _detail_response(request, pk)


class IncidentTransitionApi(APIView):
    @extend_schema(
        summary="Move along the lifecycle",
        request=TransitionInputSerializer,
        responses={200: IncidentDetailOutputSerializer, 400: RULE, 409: CONFLICT},
    )
    def post(self, request, pk):
        data = _valid(TransitionInputSerializer, request)
        services.incident_transition(actor=request.user, incident_id=pk, **data)
        return _detail_response(request, pk)


class IncidentRolesApi(APIView):
    @extend_schema(
        summary="Assign (or with remove=true, relieve) an incident role",
        request=RoleInputSerializer,
        responses={200: IncidentDetailOutputSerializer, 400: RULE},
    )
    def post(self, request, pk):
        data = _valid(RoleInputSerializer, request)
        who = {"actor": request.user, "incident_id": pk, "role": data["role"]}
        if not data["remove"]:
            services.incident_assign_role(
                **who,
                user=data["username"],
                override=data["override"],
                override_reason=data["override_reason"],
            )
        elif data["override"] or data["override_reason"]:
            raise RuleViolation(
                "override and override_reason are for assigning a role, not relieving one.",
                rule="override on assignment only",
                field="override",
            )
        else:
            services.incident_relieve_role(**who, user=data["username"])
        return _detail_response(request, pk)


class IncidentTimelineApi(APIView):
    @extend_schema(
        summary="Timeline, oldest first", responses=TimelineEventOutputSerializer(many=True)
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        events = incident_timeline(incident)
        after = request.query_params.get("after")
        if after is not None:
            if not (after.isascii() and after.isdigit()) or int(after) > MAX_ID:
                raise RuleViolation("after must be an event id.", rule="after", field="after")
            events = events.filter(id__gt=int(after))
        return Response(TimelineEventOutputSerializer(events, many=True).data)

    @extend_schema(
        summary="Add a note",
        request=NoteInputSerializer,
        responses={201: TimelineEventOutputSerializer, 400: RULE},
    )
    def post(self, request, pk):
        data = _valid(NoteInputSerializer, request)
        event = services.incident_add_note(actor=request.user, incident_id=pk, **data)
        return Response(TimelineEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


class IncidentChecklistApi(APIView):
    @extend_schema(summary="Checklist items", responses=ChecklistItemOutputSerializer(many=True))
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        return Response(ChecklistItemOutputSerializer(incident_checklist(incident), many=True).data)


class IncidentChecklistItemApi(APIView):
    @extend_schema(
        summary="Tick or untick a checklist item (recorded on the timeline)",
        request=ChecklistItemInputSerializer,
        responses=ChecklistItemOutputSerializer,
    )
    def patch(self, request, pk, item_id):
        data = _valid(ChecklistItemInputSerializer, request)
        item = services.incident_checklist_set(
            actor=request.user, incident_id=pk, item_id=item_id, done=data["done"]
        )
        return Response(ChecklistItemOutputSerializer(item).data)


class TriageApi(APIView):
    @extend_schema(
        summary="Propose a severity: the flowchart (2.2) and the criteria (2.1)",
        request=TriageInputSerializer,
        responses={200: TriageOutputSerializer, 400: RULE},
    )
    def post(self, request):
        answers = _valid(TriageInputSerializer, request)
        try:
            result = triage(answers)
        except MissingAnswer as missing:
            raise RuleViolation(
                str(missing), rule="flowchart answer required", field=missing.key
            ) from None
        return Response(TriageOutputSerializer(triage_output(result)).data)


class ServiceListApi(APIView):
    @extend_schema(
        summary="Services catalog (procedures 9.2)", responses=ServiceOutputSerializer(many=True)
    )
    def get(self, request):
        return Response(ServiceOutputSerializer(service_list(), many=True).data)


class UserListCreateApi(APIView):
    @extend_schema(
        summary="People (SRE leads)",
        responses={200: UserOutputSerializer(many=True), 403: FORBIDDEN},
    )
    def get(self, request):
        users = user_list_for(request.user)
        return Response(UserOutputSerializer(users, many=True).data)

    @extend_schema(
        summary="Create a person (SRE leads)",
        request=UserCreateInputSerializer,
        responses={201: UserOutputSerializer, 400: RULE},
    )
    def post(self, request):
        require_sre_lead(request.user)
        data = _valid(UserCreateInputSerializer, request)
        user = services.user_create(actor=request.user, **data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserMeApi(APIView):
    @extend_schema(summary="Who am I", responses=UserOutputSerializer)
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)


class IncidentSecurityApi(APIView):
    @extend_schema(
        summary="Make an incident a security incident, or an ordinary one again (audited)",
        request=SecurityInputSerializer,
        responses={200: SecurityOutputSerializer, 400: RULE, 403: FORBIDDEN},
    )
    def post(self, request, pk):
        data = _valid(SecurityInputSerializer, request)
        incident = services.incident_security_set(actor=request.user, incident_id=pk, **data)
        return Response(
            SecurityOutputSerializer(
                {
                    "id": incident.pk,
                    "reference": incident.reference,
                    "security": incident.security,
                    "visible_to_you": incident_visible_to(request.user, incident),
                }
            ).data
        )


class IncidentPublicTextApi(APIView):
    @extend_schema(
        summary="Set and approve a security incident's public title and text (security group)",
        request=PublicTextInputSerializer,
        responses={200: IncidentDetailOutputSerializer, 400: RULE, 403: FORBIDDEN},
    )
    def post(self, request, pk):
        data = _valid(PublicTextInputSerializer, request)
        services.incident_public_text_approve(actor=request.user, incident_id=pk, **data)
        return _detail_response(request, pk)
