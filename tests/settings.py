"""Test settings: the production settings module, with test-only speed-ups and an isolated var/ directory
(so tests never share a broker folder, cache or SQLite file with a `dev.py run` on the same checkout)."""

import os
from pathlib import Path

os.environ.setdefault("SCRM_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from scrm.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SECURE_SSL_REDIRECT = False
# Every callback asks whether a drain is queued, and a drain does not wait before its last look: tests that
# count enqueued drains or wait for one to finish see each at once. tests/wecom/test_inbox.py turns it on.
WECOM_INBOX_KICK_MEMO = 0.0
