"""supervisord's XML-RPC interface over its unix socket: what supervisorctl does, as data
instead of text to parse."""

from __future__ import annotations

import time
import xmlrpc.client
from dataclasses import dataclass
from typing import Any


class SupervisorError(RuntimeError):
    """supervisord refused a call or cannot be reached; the message says which."""


@dataclass(frozen=True)
class ProgramState:
    name: str
    state: str  # RUNNING, STARTING, STOPPED, FATAL, BACKOFF, EXITED ...
    pid: int | None
    uptime_s: int | None

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ProgramState:
        running = info.get("statename") == "RUNNING" and info.get("pid")
        uptime = int(info["now"]) - int(info["start"]) if running else None
        return cls(info["name"], info["statename"], info.get("pid") or None, uptime)


class Supervisor:
    def __init__(self, socket: str) -> None:
        from supervisor.xmlrpc import SupervisorTransport

        self._proxy = xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{socket}")
        )
        self.socket = socket

    def _call(self, method: str, *args: object) -> Any:
        try:
            return getattr(self._proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault as fault:
            raise SupervisorError(f"supervisor {method}{args}: {fault.faultString}") from None
        except OSError as exc:
            raise SupervisorError(f"cannot reach supervisord at {self.socket}: {exc}") from None
        finally:
            self._proxy("close")()  # one connection a call: none is left open

    def programs(self) -> dict[str, ProgramState]:
        return {
            info["name"]: ProgramState.from_info(info) for info in self._call("getAllProcessInfo")
        }

    def logfile(self, name: str) -> str:
        """Where supervisor writes the program's output."""
        return str(self._call("getProcessInfo", name)["stdout_logfile"])

    def reread(self) -> tuple[list[str], list[str], list[str]]:
        """Read the program files again: the (added, changed, removed) group names."""
        [[added, changed, removed]] = self._call("reloadConfig")
        return added, changed, removed

    def stop(self, name: str) -> None:
        """Stop a program and wait for it (a warm shutdown, up to its stopwaitsecs)."""
        if self.programs().get(name, ProgramState(name, "STOPPED", None, None)).state in (
            "RUNNING",
            "STARTING",
            "BACKOFF",
        ):
            self._call("stopProcess", name, True)

    def start(self, name: str) -> None:
        self._call("startProcess", name, False)

    def add(self, group: str) -> None:
        """Add a group from the program files; with autostart it starts."""
        self._call("addProcessGroup", group)

    def remove(self, group: str) -> None:
        """Remove a stopped group; supervisord can refuse while it is still stopping."""
        for _ in range(30):
            try:
                self._call("removeProcessGroup", group)
                return
            except SupervisorError as exc:
                if "STILL_RUNNING" not in str(exc):
                    raise
                time.sleep(0.5)
        self._call("removeProcessGroup", group)
