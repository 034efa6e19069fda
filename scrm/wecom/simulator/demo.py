"""Demo credentials for a corp that does not exist: safe to print, useless anywhere but on the simulator.

Pure Python (no Django) so that dev.py can read it by path and hand the same values to the simulator and the app.
"""

DEMO = {
    "WECOM_CORP_ID": "wwsimdemo0000001",
    "WECOM_CONTACT_SECRET": "sim-contact-secret",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_AGENT_SECRET": "sim-agent-secret",
    "WECOM_ARCHIVE_SECRET": "sim-archive-secret",
    "WECOM_CALLBACK_TOKEN": "simcallbacktoken",
    "WECOM_CALLBACK_AES_KEY": "c2ltdWxhdG9yLWRlbW8tYWVzLWtleS0zMi1ieXRlcyE",  # 43 chars, 32 bytes decoded
}
