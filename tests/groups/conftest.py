"""The WeCom fixtures (a reset simulator with every secret, signed callbacks) for the groups tests."""

from tests.wecom.conftest import callback_crypto, post_callback, wecom_configured  # noqa: F401
