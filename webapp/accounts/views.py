"""Login / logout / password change pages and the API token endpoint."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import reverse_lazy
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from webapp.accounts import services
from webapp.accounts.serializers import RevokedSerializer, TokenRequestSerializer, TokenResponseSerializer


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("accounts:password_change_done")

    def form_valid(self, form) -> HttpResponse:
        services.change_password(self.request.user, form.cleaned_data["new_password1"])
        # Keep this session signed in; every other session and API token is invalidated.
        update_session_auth_hash(self.request, self.request.user)
        return super(auth_views.PasswordChangeView, self).form_valid(form)


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


class ObtainTokenView(APIView):
    """Exchange a username and password for an API token (send it as ``Authorization: Token <key>``)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"  # password guessing is slowed down per client address

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, expiry = services.issue_token(serializer.validated_data["user"])
        return Response({"token": token, "expiry": expiry})


class RevokeTokenView(APIView):
    """Revoke the API token this request is signed with."""

    @extend_schema(request=None, responses={200: RevokedSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        if not isinstance(request.auth, AuthToken):
            raise ValidationError({"detail": "this request is not signed with an API token; use revoke-all"})
        return Response({"revoked": services.revoke_tokens(request.user, "revoked", only=request.auth)})


class RevokeAllTokensView(APIView):
    """Revoke every API token of the signed-in user."""

    @extend_schema(request=None, responses={200: RevokedSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        return Response({"revoked": services.revoke_tokens(request.user, "revoked all")})
