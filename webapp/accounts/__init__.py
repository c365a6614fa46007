"""Accounts: roles (radiologist, coordinator, admin), the audit trail, login pages, API tokens."""
