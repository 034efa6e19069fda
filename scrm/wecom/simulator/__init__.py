"""A WeCom (企业微信) server on loopback for development and tests: real response shapes and errcodes, state,
fault injection, a request log, and signed encrypted callbacks to the app.

    sim = SimulatorServer(corp_id="wwsim", secrets={"contact": "contact-secret", "agent": "agent-secret"}).start()
    settings.WECOM_API_BASE_URL = sim.base_url
"""

from scrm.wecom.simulator.faults import FaultRule, Faults, RecordedRequest
from scrm.wecom.simulator.server import SimulatorServer
from scrm.wecom.simulator.state import ManualClock, SimState

__all__ = ["FaultRule", "Faults", "ManualClock", "RecordedRequest", "SimState", "SimulatorServer"]
