"""One IMAP connection: reading whole commands (literals included), the protocol's states, and answers.

Implementation notes:
- A command is read whole before it is parsed: its line, and for each literal at a line's end the
  literal's bytes and the next line. A literal over its limit is refused before it is read when the
  client waits for our "+" (synchronizing), and read into nothing when it does not (LITERAL+), then
  answered NO [TOOBIG]; only APPEND may send message-sized literals.
- Parsing errors are BAD with the parser's reason (but a well-formed command naming a mailbox that is not
  modified UTF-7 is NO [CANNOT]); refusals of the services are NO with a response code (codes.py); the
  session goes on either way.
- RFC 7162 3.1's CONDSTORE enabling commands turn CONDSTORE on before their handler runs (before_command);
  the first of them with a mailbox selected is answered `* OK [HIGHESTMODSEQ n]` as well.
- Changes made elsewhere to the selected mailbox arrive as bus events; before a command's tagged answer
  the session catches up (selected.py) and sends EXISTS/EXPUNGE/FETCH, holding expunges back during
  FETCH, STORE and SEARCH as RFC 3501 7.4.1 requires.
- Results kept up to date (RFC 5267 CONTEXT=SEARCH/SORT, contexts.py) go with the same catch-up: REMOVEFROM
  before the EXPUNGE it is due to, ADDTO and REMOVEFROM for arrivals and flag changes after EXISTS and FETCH.
- With NOTIFY (RFC 5465, notifications.py) the session also speaks between commands: the kernel's loop waits for
  the next command and for the session's subscriptions together (`unsolicited`), and IDLE does the same.
- Nothing is logged of a command but its name and outcome: LOGIN and AUTHENTICATE carry passwords.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from polyport import __version__, log, metrics
from polyport.auth.login import Identity
from polyport.bus import Subscription, topics
from polyport.bus.events import MailboxChanged
from polyport.config import ResolvedService
from polyport.imap import fetch as rendering
from polyport.imap import wire
from polyport.imap.codes import ImapRefusal, refusal_for
from polyport.imap.notifications import Notifications
from polyport.imap.selected import Selected, catch_up
from polyport.kernel.sasl import SaslFramingError
from polyport.kernel.session import (
    CommandBytes,
    CommandSession,
    CommandTable,
    Ending,
    Handler,
    Result,
    UnknownCommand,
    WrongState,
)
from polyport.mailstore import Mailstore, MessageFull, MessageMeta, NoSuchMailbox, metadata
from polyport.mailstore.service import StoredBody
from polyport.net.connection import Connection, ConnectionClosed, LineTooLong
from polyport.runtime import Runtime
from polyport.store.blobs import BlobError

ACCESS_MODE = "IMAP"
# RFC 9585 INPROGRESS: a long command reports its progress at most this often, the first time only once it
# has run this long (a quick command says nothing more). Module globals, so tests can make them tiny.
PROGRESS_INTERVAL = 1.0  # seconds
# COPY, MOVE and EXPUNGE of fewer messages than this run without a watcher (no task each: the common
# path); their one write of the store seldom takes a second.
PROGRESS_MIN_MESSAGES = 1000
T = TypeVar("T")
# Literals of commands other than APPEND (names, search strings, passwords) are small.
MAX_SMALL_LITERAL = 64 * 1024


def _verb(first_line: bytes) -> bytes:
    """The command name of a command's first line (after UID), upper-case; b"" when there is none."""
    words = first_line.split(b" ", 3)
    verb = words[1].upper() if len(words) > 1 else b""
    if verb == b"UID" and len(words) > 2:
        verb = words[2].upper()
    return verb


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


COMMANDS = CommandTable()

ANY_STATE = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


def handles(command: type[wire.Command], states: frozenset[State]) -> Callable[[Handler], Handler]:
    """Register the handler of `command`, allowed in `states` (commands/, one function each)."""
    return COMMANDS.handles(command, states)


# Response codes (RFC 5530) of refusals that are our failure: counted server-error.
SERVER_FAULTS = frozenset({"CORRUPTION", "SERVERBUG"})

# Commands during whose answer expunges must not be announced (RFC 3501 7.4.1).
NO_EXPUNGE_ANSWERS = (wire.Fetch, wire.Store, wire.Search)


def enables_condstore(command: wire.Command) -> bool:
    """Whether a command is one of RFC 7162 3.1's "CONDSTORE enabling commands". ENABLE and SELECT/EXAMINE
    (CONDSTORE) are turned on by their handlers (ENABLE answers ENABLED; SELECT reports HIGHESTMODSEQ anyway)."""
    if isinstance(command, wire.Fetch):
        return command.changed_since is not None or "MODSEQ" in command.items
    if isinstance(command, wire.Search | wire.Sort | wire.Thread):
        return wire.mentions_modseq(command.query)
    if isinstance(command, wire.Store):
        return command.unchanged_since is not None
    if isinstance(command, wire.Status):
        return "HIGHESTMODSEQ" in command.items
    return False


class Progress:
    """RFC 9585 INPROGRESS reports of one command that counts its work: `tick(done)` as it goes sends
    `* OK [INPROGRESS ("tag" done total)]` when PROGRESS_INTERVAL has passed since the start or the last
    report. The tag is quoted as it is: tags hold no quoted-specials (RFC 9051 section 9)."""

    __slots__ = ("next", "session", "tag", "total")

    def __init__(self, session: ImapSession, tag: str, total: int) -> None:
        self.session = session
        self.tag = tag
        self.total = total
        self.next = time.monotonic() + PROGRESS_INTERVAL

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + PROGRESS_INTERVAL
        total = b"%d" % self.total if self.total > 0 else b"NIL"  # progress-total is an nz-number or NIL
        self.session.send(b'* OK [INPROGRESS ("%s" %d %s)] %d of %s messages done\r\n'
                          % (self.tag.encode(), min(done, self.total), total, min(done, self.total), total))


class ImapSession(CommandSession[State, wire.Command]):
    protocol = "imap"
    access_mode = ACCESS_MODE
    table = COMMANDS
    drain_each_command = True

    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService,
                 command_metrics: metrics.CommandMetrics) -> None:
        super().__init__(conn, runtime, service.name, command_metrics)
        self.service = service
        self.state = State.NOT_AUTHENTICATED
        self.identity: Identity | None = None
        self.selected: Selected | None = None
        self.subscription: Subscription | None = None
        self.enabled: set[str] = set()
        self.utf8 = False
        self.notify: Notifications | None = None  # RFC 5465 NOTIFY SET, while one is on

    # -- services --

    @property
    def mailstore(self) -> Mailstore:
        return self.runtime.mailstore

    @property
    def account_id(self) -> int:
        assert self.identity is not None
        return self.identity.account_id

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    # -- writing --

    def send(self, data: bytes) -> None:
        self.conn.write(data)

    def tagged(self, tag: str, status: str, text: str, code: str | None = None) -> None:
        middle = f"[{code}] " if code else ""
        self.conn.write(f"{tag} {status} {middle}{text}\r\n".encode())

    def ok(self, tag: str, text: str, code: str | None = None) -> None:
        self.tagged(tag, "OK", text, code)

    def capabilities(self) -> list[str]:
        """What this connection may use now (RFC 3501 7.2.1): fewer before login and without TLS."""
        caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
        if self.state is State.NOT_AUTHENTICATED:
            if not self.conn.tls:
                caps.append("STARTTLS")
            ctx = self.login_context()
            caps += [f"AUTH={m}" for m in self.runtime.auth.mechanisms(ctx)]
            if not ctx.plaintext_allowed:
                caps.append("LOGINDISABLED")
            return caps
        appendlimit = self.mailstore.max_message_size
        return [
            *caps,
            "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "CREATE-SPECIAL-USE",
            "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "ESEARCH", "SEARCHRES", "WITHIN", "SORT", "SORT=DISPLAY",
            "ESORT", "PARTIAL",
            "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
            "BINARY", f"APPENDLIMIT={appendlimit}", "MULTIAPPEND", "UTF8=ACCEPT", "OBJECTID", "CHILDREN",
            "SAVEDATE", "ACL", "RIGHTS=texk", "REPLACE", "LIST-MYRIGHTS", "PREVIEW",
            "INPROGRESS", "METADATA", "CATENATE", "URLAUTH", "UNAUTHENTICATE",
            # Both follow the mailbox's changes on the bus (contexts.py), as NOTIFY does.
            *(["NOTIFY", "CONTEXT=SEARCH", "CONTEXT=SORT"] if self.runtime.bus is not None else []),
            *([] if self.conn.compressed else ["COMPRESS=DEFLATE"]),
        ]

    # -- the conversation --

    def greet(self) -> None:
        code = " ".join(self.capabilities())
        self.send(f"* OK [CAPABILITY {code}] Polyport IMAP {__version__} ready\r\n".encode())

    def goodbye(self, why: Ending) -> None:
        self.send(b"* BYE idle for too long\r\n" if why is Ending.IDLE else b"* BYE the server is shutting down\r\n")

    def ended(self) -> None:
        self.unselect()
        self.notify_off()

    async def line_too_long(self, err: LineTooLong) -> None:
        self.send(f"* BAD command line longer than {err.limit} bytes; nothing was done\r\n".encode())

    async def read_command(self) -> CommandBytes | None:
        """One whole command, or None when it was refused (and answered) while being read."""
        conn = self.conn
        line = await conn.read_line()
        if wire.literal_at_end(line) is None:
            return line
        first = line
        # The command grows in one buffer as it arrives: an APPEND of a message-sized literal is never
        # gathered in pieces and joined (each 50 MB copy holds the loop 25-35 ms).
        command = bytearray(line)
        while (literal := wire.literal_at_end(line)) is not None:
            limit = self.literal_limit(first)
            if literal.size > limit or len(command) + literal.size > limit + MAX_SMALL_LITERAL:
                await self.refuse_literal(first, literal, limit)
                return None
            if literal.synchronizing:
                self.send(b"+ Ready for literal data\r\n")
                await conn.drain()
            await conn.read_into(command, literal.size)
            line = await conn.read_line()
            command += line
        return command

    def literal_limit(self, first_line: bytes) -> int:
        verb = _verb(first_line)
        if verb in (b"APPEND", b"REPLACE") and self.state is not State.NOT_AUTHENTICATED:
            return self.mailstore.max_message_size
        return MAX_SMALL_LITERAL

    async def refuse_literal(self, first_line: bytes, literal: wire.Literal, limit: int) -> None:
        tag = first_line.split(b" ", 1)[0].decode("ascii", "replace") or "*"
        if not literal.synchronizing:
            # LITERAL+: the client sends it anyway; read it into nothing, and the rest of the command.
            await self.conn.discard(literal.size)
            while (following := wire.literal_at_end(await self.conn.read_line())) is not None and not \
                    following.synchronizing:
                await self.conn.discard(following.size)
        if _verb(first_line) == b"SETMETADATA" and literal.size > metadata.MAX_VALUE_SIZE:
            # RFC 5464 4.3: a value too large is NO [METADATA MAXSIZE n], however large the literal (values
            # each within it that only together pass the command's limit are TOOBIG, as for any command).
            self.tagged(tag, "NO", f"a METADATA value is at most {metadata.MAX_VALUE_SIZE} bytes",
                        f"METADATA MAXSIZE {metadata.MAX_VALUE_SIZE}")
            return
        self.tagged(tag, "NO", f"literal larger than {limit} bytes", "TOOBIG")

    def parse(self, data: CommandBytes) -> wire.Command:
        return wire.parse_command(data, utf8=self.utf8)

    async def before_command(self, command: wire.Command) -> None:
        if not self.condstore and enables_condstore(command):
            entry = self.entry_for(command)
            if entry is not None and self.state in entry.states:  # a command refused for the state enables nothing
                self.condstore_used()

    def condstore_used(self) -> None:
        """Turn CONDSTORE on (RFC 7162 3.1): from now on untagged FETCH responses carry MODSEQ. The first
        enabling command with a mailbox selected reports that mailbox's HIGHESTMODSEQ, as far as this
        session has seen it."""
        if self.condstore:
            return
        self.enabled.add("CONDSTORE")
        if self.selected is not None:
            self.send(b"* OK [HIGHESTMODSEQ %d] CONDSTORE is on\r\n" % self.selected.highestmodseq)

    def command_name(self, command: wire.Command) -> str:
        return command.name + ("-UID" if getattr(command, "uid", False) else "")

    async def refuse(self, command: wire.Command | None, data: CommandBytes, err: Exception) -> Result | None:
        if command is None:
            if isinstance(err, wire.BadMailboxName):
                return await self.refuse_name(err)
            if isinstance(err, wire.BadCharset):
                self.tagged(err.tag or "*", "NO", err.message, "BADCHARSET (US-ASCII UTF-8)")
                return Result.USER_ERROR
            if isinstance(err, wire.ParseError):
                if err.tag:
                    self.tagged(err.tag, "BAD", err.message)
                else:
                    self.send(f"* BAD {err.message}\r\n".encode())
                return Result.BAD_SYNTAX
            return None
        if isinstance(err, UnknownCommand):
            self.tagged(command.tag, "BAD", f"{command.name} is not supported")
            return Result.BAD_SYNTAX
        if isinstance(err, WrongState):
            self.tagged(command.tag, "BAD", f"{command.name} is not allowed in the {self.state.value} state")
            return Result.BAD_SYNTAX
        refusal = ImapRefusal("BAD", str(err)) if isinstance(err, SaslFramingError) else refusal_for(err)
        if refusal is None:
            return None
        await self.updates(command)
        self.tagged(command.tag, refusal.status, refusal.text, refusal.code)
        if refusal.code in SERVER_FAULTS:
            return Result.SERVER_ERROR  # the store failed the user, not the other way round
        return Result.USER_ERROR if refusal.status == "NO" else Result.BAD_SYNTAX

    async def refuse_name(self, err: wire.BadMailboxName) -> Result:
        """NO for a well-formed command naming a mailbox that is not modified UTF-7 (RFC 3501 5.1.3): it
        fails as the command would for a mailbox that cannot exist."""
        command = err.command
        entry = self.entry_for(command)
        if entry is None or self.state not in entry.states:
            self.tagged(command.tag, "BAD", f"{command.name} is not allowed in the {self.state.value} state")
            return Result.BAD_SYNTAX
        if isinstance(command, wire.Select | wire.Examine) and self.selected is not None:
            # RFC 3501 6.3.1: a SELECT that fails leaves no mailbox selected (RFC 7162 3.2.11: say so).
            self.send(b"* OK [CLOSED] previous mailbox closed\r\n")
            self.unselect()
        await self.updates(command)
        self.tagged(command.tag, "NO", err.message, "CANNOT")
        return Result.USER_ERROR

    async def server_error(self, command: wire.Command | None) -> None:
        await self.updates(command)
        self.tagged(command.tag if command is not None else "*", "NO",
                    "internal error; the server log has the details", "SERVERBUG")

    async def updates(self, command: wire.Command | None, *, force: bool = False,
                      hold_expunges: bool = False) -> None:
        """Announce what changed in the selected mailbox (if anything happened, or when `force`d);
        `hold_expunges` between commands under SELECTED-DELAYED (RFC 5465 section 5.2)."""
        selected, subscription = self.selected, self.subscription
        if selected is None or subscription is None:
            return
        pending, own_only, flag_modseqs = False, True, set()
        while (event := subscription.get_nowait()) is not None:
            pending = True
            if own_only and isinstance(event, MailboxChanged) and event.change == "flags" and event.modseq:
                flag_modseqs.add(event.modseq)
            else:
                own_only = False
        expunges_allowed = not hold_expunges and not (
            isinstance(command, NO_EXPUNGE_ANSWERS) and not getattr(command, "uid", False))
        heard = pending or subscription.overflowed or (expunges_allowed and selected.pending_expunges)
        # This session's own flag changes and nothing else (no events lost, no look asked for, no expunges
        # due): the view moves on without reading the store.
        only_own = pending and own_only and not (subscription.overflowed or force or (
            expunges_allowed and selected.pending_expunges))
        own_news = selected.only_own(flag_modseqs) if only_own else None
        if not (heard or force):
            return
        if not heard and not selected.contexts.dirty \
                and await self.mailstore.highest_modseq(selected.id) == selected.highestmodseq:
            # Forced (NOOP, IDLE, EXPUNGE...) with nothing heard on the bus: a writer the bus does not carry
            # (another process on the data folder) may have changed the mailbox, and one statement says
            # whether it did; the full catch-up reads three.
            return
        subscription.overflowed = False

        def unreadable(uid: int, err: BlobError) -> None:
            self.search_unreadable(selected.id, uid, err)

        try:
            if own_news is not None:
                selected.contexts.touched(selected.own_changes)  # own changes may change a context's result
                selected.own_changes.clear()
                selected.highestmodseq = own_news
                lines = []
            else:
                lines = await catch_up(selected, self.mailstore, expunges_allowed=expunges_allowed,
                                       qresync=self.qresync, condstore=self.condstore,
                                       uid_command=bool(getattr(command, "uid", False)))
            if selected.contexts.dirty:  # RFC 5267 4.3.2: ADDTO and REMOVEFROM after the EXISTS and FETCH
                lines += await selected.contexts.refresh(selected, self.mailstore, unreadable, self.read_message)
        except NoSuchMailbox:
            # Deleted by another session: its message numbers mean nothing any more (as Dovecot does).
            self.unselect()
            self.send(b"* BYE the selected mailbox was deleted\r\n")
            await self.conn.drain()
            raise ConnectionClosed("the selected mailbox was deleted") from None
        for line in lines:
            self.send(line)

    async def read_message(self, blob: str, size: int) -> bytes:
        return await self.mailstore.read(blob, size=size)

    def search_unreadable(self, mailbox: int, uid: int, err: BlobError) -> None:
        """A line for a message left out of a search: where it is and why, never its content; once a
        process, however often clients search."""
        if not log.once(("imap.search_unreadable", mailbox, uid, str(err))):
            return
        self.log.error("imap.search_unreadable", mailbox=mailbox, uid=uid, error=type(err).__name__,
                       reason=str(err))

    async def finish(self, command: wire.Command, text: str, code: str | None = None) -> None:
        """Send pending updates, then the tagged OK."""
        await self.updates(command)
        self.ok(command.tag, text, code)

    # -- selecting --

    def select(self, selected: Selected) -> None:
        self.unselect()
        self.selected = selected
        if self.runtime.bus is not None:
            self.subscription = self.runtime.bus.subscribe(topics.mailbox(selected.id), queue_size=64)
        self.state = State.SELECTED

    def unselect(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None
        self.selected = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    def target_uids(self, sequence: wire.SequenceSet, uid: bool) -> list[int]:
        """The UIDs a command's sequence set names in the selected mailbox. A message number above the
        count is a BAD (RFC 9051 section 9); UIDs that do not exist are simply not named."""
        selected = self.selected
        assert selected is not None
        if not uid and sequence.highest > selected.exists:
            raise ImapRefusal("BAD", f"message number {sequence.highest} is beyond the {selected.exists} "
                                     "messages of the mailbox")
        if not uid and sequence.has_star and not selected.exists:
            raise ImapRefusal("BAD", "there are no messages in the mailbox")  # "*" names none (RFC 9051 9)
        return selected.resolve(sequence, uid)

    def progress(self, tag: str, total: int) -> Progress:
        return Progress(self, tag, total)

    async def in_progress(self, tag: str, count: int, work: Awaitable[T]) -> T:
        """Await `work`, one write of the store for `count` messages (COPY, MOVE, EXPUNGE) that cannot say
        how far it is: when it is many messages, send `* OK [INPROGRESS ("tag" NIL NIL)]` (RFC 9585: no
        count known) every PROGRESS_INTERVAL while it runs, so the client knows the command is alive."""
        if count < PROGRESS_MIN_MESSAGES:
            return await work
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=PROGRESS_INTERVAL)
                if done:
                    return task.result()
                self.send(b'* OK [INPROGRESS ("%s" NIL NIL)] still working\r\n' % tag.encode())
                await self.conn.drain()
        finally:
            if not task.done():
                task.cancel()  # the session was ended while waiting: the work goes as an await would

    def require_writable(self) -> Selected:
        selected = self.selected
        assert selected is not None
        if selected.readonly:
            raise ImapRefusal("NO", "the mailbox is selected read-only (EXAMINE)", "READ-ONLY")
        return selected

    async def wait_for_done_or_change(self) -> bytes:
        """IDLE: wait for the client's DONE line, sending changes as they come (RFC 2177), and NOTIFY's news
        (RFC 5465 section 4). One wait for both, no task for either: thousands of sessions sit here. The
        connection's idle timer (30 minutes by default, RFC 9051's minimum) ends a client that neither
        renews IDLE nor speaks."""
        assert self.subscription is not None or self.selected is None
        conn = self.conn
        while True:
            if conn.line_ready():
                return await conn.read_line()
            if self.notify is not None:
                watcher: asyncio.Future[None] | None = self.notify.waiter(self.subscription)
            else:
                watcher = self.subscription.wait() if self.subscription is not None else None
            if watcher is not None and watcher.done():
                await self.notify_news()
                await self.selected_news(force=True)
                await conn.drain()
                continue
            await conn.wait_for_input_or(watcher)

    # -- NOTIFY (RFC 5465; notifications.py) --

    def unsolicited(self) -> asyncio.Future[None] | None:
        notify = self.notify
        if notify is None:
            return None
        return notify.waiter(self.subscription if notify.watches_selected else None)

    async def send_unsolicited(self) -> None:
        await self.notify_news()
        notify, selected, subscription = self.notify, self.selected, self.subscription
        if notify is None or not notify.watches_selected or selected is None or subscription is None:
            return
        if not subscription.wait().done() and not subscription.overflowed:
            return
        await self.selected_news(hold_expunges=notify.delayed)

    async def selected_news(self, *, force: bool = False, hold_expunges: bool = False) -> None:
        """The selected mailbox's changes (`updates`), then, under NOTIFY's SELECTED with fetch attributes,
        the new messages' FETCH after their EXISTS (RFC 5465 5.2): between commands and in IDLE alike."""
        selected = self.selected
        largest = selected.largest_uid if selected is not None else 0
        await self.updates(None, force=force, hold_expunges=hold_expunges)
        notify = self.notify
        if (notify is not None and notify.watches_selected and notify.fetch and selected is not None
                and self.selected is selected and selected.largest_uid > largest):
            await self.send_new_messages(selected, largest, notify.fetch)

    async def send_new_messages(self, selected: Selected, after: int, items: tuple[wire.FetchItem, ...]) -> None:
        """MessageNew's fetch attributes (RFC 5465 5.2) of the messages after UID `after`, as FETCH sends
        them: read in runs of fetch.BATCH, each run's answers drained before the next is read, messages
        over fetch.STREAM_AT streamed from the blob store. A message that cannot be read, or whose answer
        is too large, is left out (a FETCH says why)."""
        from polyport.imap.commands import fetching  # the commands import this module: not at the top

        plan = rendering.plan(items)
        condstore, utf8 = self.condstore, self.utf8
        new = selected.uids[bisect.bisect_right(selected.uids, after):]
        for first, last, _ in rendering.runs(new, selected.uids, rendering.BATCH):
            rows: list[MessageMeta]
            blobs: dict[int, str] = {}
            if plan.needs_structure:
                rows = list(await self.mailstore.full(selected.id, first, last))
            else:
                rows = await self.mailstore.meta(selected.id, first, last)
                if plan.needs_bytes:
                    blobs = await self.mailstore.blob_ids(selected.id, first, last)
            for row in rows:
                number = selected.msn(row.uid)
                if not number:
                    continue  # arrived after this catch-up: the next one announces it
                try:
                    if not plan.needs_bytes:
                        self.send(rendering.render(number, row, plan, message=None, with_modseq=condstore,
                                                   utf8=utf8, extra_flags=False, recent=selected.recent))
                        continue
                    blob = row.blob if isinstance(row, MessageFull) else blobs.get(row.uid)
                    if blob is None:
                        continue  # expunged meanwhile
                    message = await (self.mailstore.stored(blob, row.size) if row.size > rendering.STREAM_AT
                                     else self.mailstore.read(blob, size=row.size))
                    if isinstance(message, StoredBody):
                        await fetching.send_stored(self, number, row, plan, message, condstore, False,
                                                   selected.recent)
                        continue
                    self.send(rendering.render(number, row, plan, message=message, with_modseq=condstore,
                                               utf8=utf8, extra_flags=False, recent=selected.recent))
                except (BlobError, rendering.AnswerTooLarge):
                    continue
            await self.conn.drain()

    async def notify_news(self) -> None:
        """Send NOTIFY's responses for the events waiting; on overflow, say so and turn NOTIFY off."""
        notify = self.notify
        if notify is None:
            return
        events = notify.pending()
        if notify.overflowed:
            self.notify_off()
            self.send(b"* OK [NOTIFICATIONOVERFLOW] too many changes at once; NOTIFY is off\r\n")
            return
        if not events:
            return
        selected_id = self.selected.id if self.selected is not None else None
        for line in await notify.responses(events, selected_id=selected_id, condstore=self.condstore,
                                           utf8=self.utf8):
            self.send(line)

    def notify_off(self) -> None:
        if self.notify is not None:
            self.notify.close()
            self.notify = None
