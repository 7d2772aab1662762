"""Tokens (sign-in, list, revoke) and the audit log. The authentication that checks a token
on every call is in authentication.py."""

from __future__ import annotations

import django_filters
from django.contrib.auth import authenticate
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import ApiToken, AuditEvent
from ..permissions import require_sre_lead
from ..selectors import api_token_list_for, audit_event_list
from ..services import api_token_create, api_token_revoke
from ..states import AuditAction
from .fields import MAX_ID, StrictSerializer
from .filters import GivenChoiceFilter
from .schema import FORBIDDEN, RULE


# --- tokens -----------------------------------------------------------------------------------
class TokenObtainInputSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="What the token is for (shown in the list of your tokens).",
    )


class TokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]


class TokenSecretOutputSerializer(TokenOutputSerializer):
    token = serializers.CharField(help_text="The secret: shown this once, never stored.")

    class Meta(TokenOutputSerializer.Meta):
        fields = ["token", *TokenOutputSerializer.Meta.fields]


class TokenApi(APIView):
    """Sign in for a new token; revoke the token that makes the call."""

    sign_in_methods = ("POST",)  # rate limited (api/urls.py), so the schema lists a 429
    # Sign-in has always taken a form body too (DRF's ObtainAuthToken did): scripts use both.
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        # Only revoking needs a caller; any other method but POST is a 405 to everyone.
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    def get_authenticators(self):
        # Signing in needs no credentials: a stale token in the header must not refuse it.
        if getattr(self, "request", None) is not None and self.request.method != "DELETE":
            return []
        return super().get_authenticators()

    def initialize_request(self, request, *args, **kwargs):
        # DRF asks for the authenticators before it sets self.request; they depend on it.
        self.request = request
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        summary="Sign in: a new API token each time (expires after TENSAFE_API_TOKEN_DAYS)",
        # Documented as JSON only: a form body still works (older scripts), but a schema that
        # offers three encodings of one body makes generated clients (openapi-python-client)
        # send it as multipart with a made-up boundary.
        request={"application/json": TokenObtainInputSerializer},
        responses={200: TokenSecretOutputSerializer, 400: RULE},
        auth=[],
    )
    def post(self, request):
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        token, secret = api_token_create(user=user, name=data["name"])
        return Response(TokenSecretOutputSerializer({**_fields(token), "token": secret}).data)

    @extend_schema(
        summary="Revoke the token that makes this call (it answers 401 afterwards)",
        request=None,
        responses={204: None, 400: RULE},
    )
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            raise exceptions.ValidationError(
                {
                    "detail": "No API token made this call; revoke one with "
                    "DELETE /api/v1/auth/tokens/{id}/."
                }
            )
        api_token_revoke(actor=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _fields(token: ApiToken) -> dict:
    return {name: getattr(token, name) for name in TokenOutputSerializer.Meta.fields}


class MyTokensApi(APIView):
    @extend_schema(
        summary="Your API tokens, newest first (no secrets)",
        responses=TokenOutputSerializer(many=True),
    )
    def get(self, request):
        tokens = api_token_list_for(request.user)
        return Response(TokenOutputSerializer(tokens, many=True).data)


class MyTokenApi(APIView):
    @extend_schema(
        summary="Revoke one of your API tokens (anyone else's: 404)",
        request=None,
        responses={204: None},
    )
    def delete(self, request, token_id):
        if token_id > MAX_ID:  # no 64-bit key is that large (SQLite would refuse the query)
            raise Http404("No such token.")
        api_token_revoke(actor=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the audit log ----------------------------------------------------------------------------
class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_username", help_text="Actor's username")
    target = django_filters.CharFilter(
        field_name="target_user__username", help_text="Username of the user changed"
    )
    action = GivenChoiceFilter(choices=AuditAction.choices)

    class Meta:
        model = AuditEvent
        fields = ["actor", "target", "action"]


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", help_text="Empty: the platform")
    target_user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "target_user",
            "target_type",
            "target_id",
            "target_repr",
            "details",
            "remote_addr",
        ]


class AuditListApi(GenericAPIView):
    serializer_class = AuditEventOutputSerializer
    filterset_class = AuditFilter

    def get_queryset(self):
        return audit_event_list()

    @extend_schema(
        summary="The audit log of users, groups, passwords, tokens and grants (SRE leads)",
        responses={200: AuditEventOutputSerializer(many=True), 403: FORBIDDEN},
    )
    def get(self, request):
        require_sre_lead(request.user)
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
