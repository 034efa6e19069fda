"""The WeCom gateway: API client, callbacks, sync and the loopback simulator (issue 3)."""
