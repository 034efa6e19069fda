"""Placeholder: filled in by the channel_codes work (add_external_contact through a channel code)."""
