"""Helpers for the servers the harness runs as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def terminate(process: subprocess.Popen | None, timeout: float, group: bool = False) -> bool:
    """
    Stop a server with SIGTERM, as a service manager would, and kill it (its whole process
    group if `group`) only if it hangs. Return False when it had to be killed.
    """
    if process is None or process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, for servers that cannot pick one themselves."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
