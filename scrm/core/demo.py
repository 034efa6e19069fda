"""Demo data for the embedded run: a superuser and one user per role, each with a random password that is
kept (mode 0600) under var/ so that re-running the run command prints the same logins and changes nothing."""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from scrm.core.roles import OPS, SALES


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


# username → (role, is_staff, is_superuser)
DEMO_USERS = {
    "admin": ("superuser", True, True),
    "ops": (OPS, True, False),
    "sales": (SALES, False, False),
}


def demo_users_ensure(*, credentials_file: Path) -> list[DemoLogin]:
    """Create the demo users that do not exist yet; never touches an existing user or password."""
    known = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    User = get_user_model()
    logins = []
    with transaction.atomic():
        for username, (role, is_staff, is_superuser) in DEMO_USERS.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(9)
                user = User(username=username, is_staff=is_staff, is_superuser=is_superuser)
                user.set_password(password)
                user.full_clean()
                user.save()
                if role in (OPS, SALES):
                    user.groups.add(Group.objects.get(name=role))
                known[username] = password
            password = known.get(username, "(set before; not shown)")
            logins.append(DemoLogin(username=username, password=password, role=role))
    credentials_file.touch(mode=0o600)
    credentials_file.write_text(json.dumps(known, indent=2))
    return logins
