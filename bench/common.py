"""What both benchmark scripts need (each runs as ``python bench/<name>.py``, so this folder is on sys.path)."""

import socket


def free_port() -> int:
    """A port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
