"""The stream handler of a command protocol: one session per accepted connection, and the listener's
refusals (untrusted address, too many connections, shutting down) in the protocol's own words."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from polyport import metrics
from polyport.config import ResolvedService
from polyport.net.connection import Connection
from polyport.net.listener import Refusal, Session
from polyport.runtime import Runtime

SessionT = TypeVar("SessionT", bound=Session)

# What a refused client is told, the same for every protocol unless it words it otherwise.
REFUSAL_TEXTS: dict[Refusal, str] = {
    Refusal.UNTRUSTED: "This address may not use {label} here",
    Refusal.TOO_MANY: "Too many connections; try again later",
    Refusal.TOO_MANY_FROM_ADDRESS: "Too many connections from your address; try again later",
    Refusal.SHUTTING_DOWN: "The server is shutting down",
}


class CommandHandler(Generic[SessionT]):
    """Subclasses say how a session is made (`session`) and how a refusal line looks (`refusal_line`)."""

    label: ClassVar[str]  # the protocol's name in refusals: "IMAP", "POP3"

    def __init__(self, runtime: Runtime, service: ResolvedService) -> None:
        self.runtime = runtime
        self.service = service
        self.metrics = metrics.CommandMetrics(service.name)

    def session(self, conn: Connection) -> SessionT:
        raise NotImplementedError

    def refusal_text(self, reason: Refusal) -> str:
        return REFUSAL_TEXTS[reason].format(label=self.label)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        raise NotImplementedError

    def refusal(self, reason: Refusal) -> bytes:
        return self.refusal_line(reason, self.refusal_text(reason))
