from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scrm.core.demo import demo_users_ensure


class Command(BaseCommand):
    help = "Create demo users (admin, ops, sales) for the embedded run. Safe to re-run: existing users are kept."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true", help="Run even with DEBUG off.")

    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError("seed_demo creates users with known passwords; it runs only with DEBUG=true.")
        logins = demo_users_ensure(credentials_file=settings.VAR_DIR / "demo-logins.json")
        for login in logins:
            self.stdout.write(f"LOGIN {login.role:<10} {login.username:<8} {login.password}")
