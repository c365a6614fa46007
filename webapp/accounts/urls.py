from django.urls import path

from webapp.accounts import two_factor_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("2fa/", two_factor_views.overview, name="2fa"),
    path("2fa/setup/", two_factor_views.setup, name="2fa_setup"),
    path("2fa/verify/", two_factor_views.verify, name="2fa_verify"),
    path("2fa/recovery-codes/", two_factor_views.renew_recovery_codes, name="2fa_recovery"),
    path("2fa/disable/", two_factor_views.disable, name="2fa_disable"),
]
