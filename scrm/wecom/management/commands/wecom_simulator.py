"""``manage.py wecom_simulator``: run the loopback WeCom in the foreground (Ctrl-C stops it).

Uses the WECOM_* settings so the app and the simulator agree on corp id, secrets and callback keys; where they
are empty it uses fixed demo values and prints what the app must be configured with. ``--script`` plays a stream
of customer activity and sends the callbacks to ``--callback-url``.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from scrm.wecom.simulator import SimulatorServer
from scrm.wecom.simulator.demo import DEMO
from scrm.wecom.simulator.script import run_script

SECRET_NAMES = {"WECOM_CONTACT_SECRET", "WECOM_AGENT_SECRET", "WECOM_ARCHIVE_SECRET", "WECOM_CALLBACK_AES_KEY"}


class Command(BaseCommand):
    help = "Run the WeCom simulator (企业微信模拟服务) on loopback; Ctrl-C stops it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--callback-url", default=None, help="where to POST callbacks, e.g. .../wecom/callback")
        parser.add_argument("--script", action="store_true", help="play scripted customer activity")
        parser.add_argument("--interval", type=float, default=4.0, help="seconds between scripted events")
        parser.add_argument(
            "--bulk-contacts",
            type=int,
            default=0,
            help="replace the demo corp with this many customers (deterministic, for load tests)",
        )
        parser.add_argument("--bulk-employees", type=int, default=50, help="employees of the bulk corp")
        parser.add_argument("--bulk-groups", type=int, default=0, help="customer groups of the bulk corp")
        parser.add_argument(
            "--bulk-shared-every", type=int, default=10, help="every n-th customer also follows a second employee"
        )

    def handle(self, *args: object, **options: object) -> None:
        values, demo_used = {}, []
        for name, demo in DEMO.items():
            configured = getattr(settings, name, "")
            values[name] = configured or demo
            if not configured:
                demo_used.append(name)
        sim = SimulatorServer(
            corp_id=values["WECOM_CORP_ID"],
            secrets={
                "contact": values["WECOM_CONTACT_SECRET"],
                "agent": values["WECOM_AGENT_SECRET"],
                "archive": values["WECOM_ARCHIVE_SECRET"],
            },
            agent_id=values["WECOM_AGENT_ID"],
            host=str(options["host"]),
            port=int(options["port"]),  # type: ignore[call-overload]
            callback_url=options["callback_url"] or None,  # type: ignore[arg-type]
            callback_token=values["WECOM_CALLBACK_TOKEN"],
            callback_aes_key=values["WECOM_CALLBACK_AES_KEY"],
            bulk=self._bulk(options),
        ).start()
        self._print_banner(sim, values, demo_used)
        stop = threading.Event()
        player = None
        if options["script"]:
            if not sim.callback_url:
                self.stdout.write(self.style.WARNING("--script without --callback-url: events change state only."))
            player = threading.Thread(
                target=run_script,
                kwargs={"sim": sim, "interval": options["interval"], "stop": stop, "out": self._event_line},
                daemon=True,
            )
            player.start()
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nstopping the simulator …")
        finally:
            stop.set()
            if player is not None:
                player.join(timeout=10)
            sim.stop()

    @staticmethod
    def _bulk(options: dict) -> dict[str, int] | None:
        if not options["bulk_contacts"]:
            return None
        return {
            "contacts": int(options["bulk_contacts"]),
            "employees": int(options["bulk_employees"]),
            "groups": int(options["bulk_groups"]),
            "shared_every": int(options["bulk_shared_every"]),
        }

    def _event_line(self, line: str) -> None:
        self.stdout.write(f"{time.strftime('%H:%M:%S')} {line}")

    def _print_banner(self, sim: SimulatorServer, values: dict[str, str], demo_used: list[str]) -> None:
        self.stdout.write(self.style.SUCCESS(f"WeCom simulator on {sim.base_url}  (control API: /_sim/)"))
        if sim.state.bulk:
            with sim.state.lock:
                follows = sum(len(follows) for follows in sim.state.follows.values())
                self.stdout.write(
                    f"Bulk corp: {len(sim.state.employees)} employees, {len(sim.state.contacts)} customers "
                    f"({follows} follow relations), {len(sim.state.groups)} groups"
                )
        self.stdout.write("Configure the app with:")
        self.stdout.write(f"  WECOM_API_BASE_URL={sim.base_url}")
        for name in DEMO:
            if name in demo_used:
                self.stdout.write(f"  {name}={values[name]}")
            elif name in SECRET_NAMES:
                self.stdout.write(f"  {name}=(from your settings, not shown)")
            else:
                self.stdout.write(f"  {name}={values[name]}")
        if sim.callback_url:
            self.stdout.write(f"Callbacks go to {sim.callback_url}")
