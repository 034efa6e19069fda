"""Customers keyed by phone number, WeCom employees and external contacts, the follow-up timeline (issue 4)."""
