from django.contrib.auth import authenticate
from rest_framework import serializers

from webapp.accounts import two_factor


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"}, trim_whitespace=False)
    otp = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="the authenticator's current code (or a recovery code): needed by accounts with two-factor sign-in",
    )

    def validate(self, attrs: dict) -> dict:
        request = self.context.get("request")
        # The lockout (django-axes) marks Django's own request, which the middleware then reads.
        user = authenticate(
            getattr(request, "_request", request), username=attrs["username"], password=attrs["password"]
        )
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                "Unable to log in with these credentials.", code="authorization"
            )
        if two_factor.required_for(user):
            if not two_factor.is_enrolled(user):
                raise serializers.ValidationError(
                    "This account needs two-factor sign-in: set it up in the web app (/accounts/2fa/) first.",
                    code="authorization",
                )
            if two_factor.verify(user, attrs.get("otp", "")) is None:
                raise serializers.ValidationError(
                    "This account signs in with a second factor: send the authenticator's current code as otp.",
                    code="authorization",
                )
        attrs["user"] = user
        return attrs


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="send as `Authorization: Token <token>`; shown once")
    expiry = serializers.DateTimeField(allow_null=True)


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="how many tokens were revoked")
