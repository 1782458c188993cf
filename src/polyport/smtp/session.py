"""One SMTP, submission or LMTP connection (RFC 5321, RFC 6409, RFC 8314, RFC 2033).

- Port 25 (MX) takes mail for hosted domains from anyone; mail for other domains only from authenticated
  users and trusted networks (never an open relay). Submission (587, 465) takes nothing before AUTH, and
  the sender must be the account's own address (or one of its aliases), or the null path.
- Plaintext AUTH mechanisms only over TLS or from trusted networks (auth.sasl decides); STARTTLS drops
  whatever the client pipelined after it (CVE-2011-0411) and starts the session over.
- DATA is read through wire.DotReader: only CRLF.CRLF ends it, bare CR/LF are normalised, and past the
  size limit nothing more is kept. BDAT chunks past the limit are read and thrown away.
- BURL (RFC 4468, submission only, once authenticated): the data of a URLAUTH-authorized URL of this
  server's IMAP, fetched through the mailstore as the submission server acting for the user, joins the
  message as a BDAT chunk would.
- The 250 after the data comes only once delivery has the message on disk (delivery.deliver waits for
  the store's commit). A client that goes away before that leaves nothing behind.
- Every refusal counts: from SOFT_ERROR_LIMIT on each is answered a second late, at HARD_ERROR_LIMIT the
  session ends with 421 (dictionary attacks, confused clients).
- Logs carry the connection id and outcomes, never AUTH's data.
"""

from __future__ import annotations

import asyncio
import enum
import re
from dataclasses import dataclass, field, replace

from polyport import __version__, metrics
from polyport.auth.login import AuthFailure, Identity
from polyport.config import ResolvedService
from polyport.delivery import DeliveryError, Options, Recipient, SenderNotOwned, Trace
from polyport.kernel import sasl as sasl_framing
from polyport.kernel.session import ALWAYS, CommandBytes, CommandSession, CommandTable, Ending, Result
from polyport.mailauth import strip_forged
from polyport.mailstore import imapurl
from polyport.mailstore.urlauth import Requester
from polyport.net.connection import Connection, LineTooLong
from polyport.runtime import Runtime
from polyport.smtp import codes, wire
from polyport.smtp.wire import Reply

ACCESS_MODE = "Mail"
SOFT_ERROR_LIMIT = 10
HARD_ERROR_LIMIT = 20
ERROR_DELAY = 1.0
MAX_HOPS = 50  # Received fields a message may carry before it is taken for a loop (RFC 5321 6.3)
READ_CHUNK = 64 * 1024
_RECEIVED = re.compile(rb"(?im)^received:")


class Mode(enum.Enum):
    MX = "SMTP"
    SUBMISSION = "submission"
    LMTP = "LMTP"


class Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


@dataclass(slots=True)
class Transaction:
    sender: str
    params: wire.MailParams
    recipients: list[tuple[Recipient, wire.RcptParams]] = field(default_factory=list)
    # BDAT data so far, normalised as it arrives (so the last chunk leaves only its own lines to do)
    body: wire.Normaliser = field(default_factory=lambda: wire.Normaliser(unstuff=False))
    chunked: int = 0  # octets of BDAT data so far (kept or not)
    failed: bool = False  # a BDAT chunk was refused: the rest of the transaction is thrown away


# The SASL framing's refusals (RFC 4954 4): what each is answered, and how the command is counted.
SASL_REPLIES: dict[type[sasl_framing.SaslFramingError], tuple[Reply, Result]] = {
    sasl_framing.SaslTooLong: (Reply(500, "5.5.6", "the authentication response is too long"), Result.USER_ERROR),
    sasl_framing.SaslCancelled: (Reply(501, "5.0.0", "authentication cancelled"), Result.USER_ERROR),
    sasl_framing.SaslNotBase64: (Reply(501, "5.5.2", "the response is not base64"), Result.BAD_SYNTAX),
    sasl_framing.SaslNotEmpty: (Reply(501, "5.5.2", "the answer to the last challenge must be empty"),
                                Result.USER_ERROR),
}

COMMANDS = CommandTable()


def _out_of_sequence(t: Transaction | None) -> Reply:
    """Why a chunk (BDAT, BURL) cannot be taken now: no MAIL, no recipient, or an earlier chunk refused."""
    return codes.NEED_MAIL if t is None else codes.NO_RECIPIENTS if not t.recipients else codes.BAD_SEQUENCE


class SmtpSession(CommandSession[None, wire.Command]):
    protocol = "smtp"
    access_mode = ACCESS_MODE
    table = COMMANDS
    sasl_prefix = b"334 "

    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService, mode: Mode,
                 metrics_: metrics.CommandMetrics) -> None:
        super().__init__(conn, runtime, service.name, metrics_)
        self.state = None  # SMTP's sequence (HELO, MAIL, RCPT, DATA) is checked by the handlers
        self.service = service
        self.mode = mode
        self.hostname = runtime.delivery.hostname
        self.max_size = runtime.config.mail.max_message_size
        self.max_recipients = runtime.config.mail.max_recipients
        self.helo: wire.Hello | None = None
        self.identity: Identity | None = None
        self.transaction: Transaction | None = None
        self.errors = 0

    # -- helpers --

    def send(self, r: Reply) -> None:
        self.conn.write(wire.encode(r))

    def ok(self, text: str = "ok", enhanced: str = "2.0.0") -> None:
        self.send(Reply(250, enhanced, text))

    async def refuse_reply(self, r: Reply) -> None:
        """Answer a refusal, counting it; late from the soft limit on, the end at the hard one."""
        self.errors += 1
        if self.errors >= HARD_ERROR_LIMIT:
            self.send(r)
            self.send(Reply(421, "4.7.0", f"{self.hostname} too many errors; closing the connection"))
            self.log.info("smtp.too_many_errors", errors=self.errors, remote=self.conn.remote_ip)
            self.finished = True
            return
        if self.errors >= SOFT_ERROR_LIMIT:
            await self.conn.drain()
            await asyncio.sleep(ERROR_DELAY)
        self.send(r)

    @property
    def submission(self) -> bool:
        return self.mode is Mode.SUBMISSION

    def auth_offered(self) -> bool:
        """AUTH is offered on submission and MX alike, once plaintext would be safe or SCRAM could run;
        never on LMTP (its clients are trusted MTAs)."""
        return self.mode is not Mode.LMTP and bool(self.runtime.auth.mechanisms(self.login_context()))

    def protocol_name(self) -> str:
        """RFC 3848's "with" keyword for the Received field."""
        if self.mode is Mode.LMTP:
            return "LMTPS" if self.conn.tls else "LMTP"
        if self.helo is None or not self.helo.extended:
            return "SMTP"
        return "ESMTP" + ("S" if self.conn.tls else "") + ("A" if self.identity else "")

    def tls_description(self) -> str | None:
        if not self.conn.tls:
            return None
        cipher = self.conn.cipher
        return f"using {self.conn.tls_version} with cipher {cipher}" if cipher else f"using {self.conn.tls_version}"

    # -- the kernel's hooks --

    def greet(self) -> None:
        kind = "LMTP" if self.mode is Mode.LMTP else "ESMTP"
        self.send(Reply(220, None, f"{self.hostname} {kind} Polyport {__version__} ready"))

    def goodbye(self, why: Ending) -> None:
        if why is Ending.IDLE:
            self.send(Reply(421, "4.4.2", f"{self.hostname} idle for too long; closing the connection"))
        else:
            self.send(Reply(421, "4.3.2", f"{self.hostname} the server is shutting down; try again later"))

    async def read_command(self) -> bytes | None:
        return await self.conn.read_line(limit=wire.MAX_LINE)

    async def line_too_long(self, err: LineTooLong) -> None:
        await self.refuse_reply(codes.LINE_TOO_LONG)

    def parse(self, data: CommandBytes) -> wire.Command:
        return wire.parse_command(bytes(data))  # a line: bytes already (bytes() of bytes is no copy)

    def command_name(self, command: wire.Command) -> str:
        return type(command).__name__.upper()

    async def refuse(self, command: wire.Command | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, Refused):
            await self.refuse_reply(err.reply)
            return Result.USER_ERROR
        if isinstance(err, sasl_framing.SaslFramingError):
            reply, result = SASL_REPLIES[type(err)]
            await self.refuse_reply(reply)
            return result
        if isinstance(err, wire.ParseError):
            await self.refuse_reply(err.reply)
            if command is None and data[:4].upper() == b"BDAT":
                # Its chunk's length is unknown: what follows cannot be told from commands. Postfix
                # does the same.
                self.send(Reply(421, "4.5.0", f"{self.hostname} malformed BDAT; closing the connection"))
                self.finished = True
            return Result.BAD_SYNTAX
        return None

    async def server_error(self, command: wire.Command | None) -> None:
        self.send(codes.TEMP_FAILURE)
        if isinstance(command, wire.Data | wire.Bdat):
            # Mid-message the client's next bytes may be message content: never read them as commands.
            self.send(Reply(421, "4.3.0", f"{self.hostname} closing the connection"))
            self.finished = True

    # -- the commands without a transaction --

    async def rset(self, c: wire.Rset) -> None:
        self.transaction = None
        self.ok()

    async def noop(self, c: wire.Noop) -> None:
        self.ok()

    async def quit(self, c: wire.Quit) -> None:
        self.send(Reply(221, "2.0.0", f"{self.hostname} closing the connection"))
        self.finished = True

    async def vrfy(self, c: wire.Vrfy) -> None:
        # No address enumeration (RFC 5321 3.5.3 allows 252).
        self.send(Reply(252, "2.5.0", "cannot verify the address, but will take a message for it"))

    async def expn(self, c: wire.Expn) -> None:
        raise Refused(Reply(502, "5.5.1", "EXPN is not available"))

    async def help(self, c: wire.Help) -> None:
        self.send(Reply(214, "2.0.0", "see RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
                                      "QUIT VRFY STARTTLS AUTH BURL"))

    # -- greeting, TLS, AUTH --

    def extensions(self) -> list[str]:
        keywords = ["PIPELINING", f"SIZE {self.max_size}", "8BITMIME", "SMTPUTF8", "CHUNKING",
                    "ENHANCEDSTATUSCODES", "DSN"]
        if not self.conn.tls:
            keywords.append("STARTTLS")
        else:
            keywords.append("REQUIRETLS")
        if self.auth_offered() and self.identity is None:
            keywords.append("AUTH " + " ".join(self.runtime.auth.mechanisms(self.login_context())))
        if self.submission:
            # RFC 4468 3: BURL alone says it is there (a client seldom says EHLO again after AUTH); once
            # authenticated, the URL schemes it takes: URLAUTH URLs of this server's IMAP.
            keywords.append("BURL imap" if self.identity is not None else "BURL")
        return keywords

    async def hello(self, c: wire.Hello) -> None:
        if (c.verb == "LHLO") != (self.mode is Mode.LMTP):
            raise Refused(Reply(500, "5.5.1", "LMTP speaks LHLO" if self.mode is Mode.LMTP
                                else "LHLO is LMTP's; say EHLO"))
        self.helo = c
        self.transaction = None
        greeting = f"{self.hostname} greets {c.domain}"
        if c.extended:
            self.conn.write(wire.ehlo_reply(greeting, self.extensions()))
        else:
            self.send(Reply(250, None, greeting))

    async def starttls(self, c: wire.StartTls) -> None:
        if self.conn.tls:
            raise Refused(Reply(503, "5.5.1", "TLS is already on"))
        self.send(Reply(220, "2.0.0", "ready to start TLS"))
        await self.conn.drain()
        dropped = await self.conn.start_tls(self.runtime.tls.context)
        if dropped:
            self.log.info("smtp.starttls_dropped", bytes=dropped)
        # RFC 3207 4.2: the session starts over; the client says EHLO again.
        self.helo = None
        self.transaction = None
        self.identity = None

    async def auth(self, c: wire.Auth) -> None:
        if self.helo is None or not self.helo.extended:
            raise Refused(codes.NEED_HELLO)
        if self.identity is not None:
            raise Refused(Reply(503, "5.5.1", "already authenticated"))
        if self.transaction is not None:
            raise Refused(Reply(503, "5.5.1", "AUTH is not allowed during a mail transaction"))
        if not self.auth_offered():
            raise Refused(codes.NEED_TLS_FIRST if not self.conn.tls else Reply(503, "5.5.1", "AUTH is not available"))
        try:
            identity = await self.sasl_login(c.mechanism, c.initial)
        except AuthFailure as failure:
            self.log.info("smtp.auth_failed", reason=getattr(failure, "reason", "failed"))
            raise Refused(codes.auth_reply(failure)) from None
        self.identity = identity
        self.send(Reply(235, "2.7.0", "authentication successful"))

    # -- the envelope --

    async def mail(self, c: wire.Mail) -> None:
        if self.helo is None:
            raise Refused(codes.NEED_HELLO)
        if self.transaction is not None:
            raise Refused(codes.NESTED_MAIL)
        if self.submission and self.identity is None:
            raise Refused(codes.NEED_AUTH if self.conn.tls or self.conn.trusted else codes.NEED_TLS_FIRST)
        params = c.params
        if not self.helo.extended and params != wire.MailParams():
            raise Refused(Reply(555, "5.5.4", "parameters need EHLO"))
        if params.body == "BINARYMIME":
            raise Refused(Reply(555, "5.5.4", "BODY=BINARYMIME is not supported"))
        if params.requiretls and not self.conn.tls:
            raise Refused(Reply(530, "5.7.10", "REQUIRETLS needs TLS"))
        if c.utf8 and not params.smtputf8:
            raise Refused(Reply(553, "5.6.7", "a non-ASCII address needs SMTPUTF8"))
        limit = await self.size_limit()
        if params.size is not None and params.size > limit:
            raise Refused(Reply(552, "5.3.4", f"the message is larger than the limit of {limit} octets"))
        if self.identity is not None:
            try:
                await self.runtime.delivery.check_sender(self.identity.account_id, self.identity.address, c.sender)
            except SenderNotOwned as error:
                raise Refused(codes.delivery_reply(error)) from None
        self.transaction = Transaction(c.sender, params)
        self.ok("sender ok", "2.1.0")

    async def size_limit(self) -> int:
        """The server's limit, or the account's MaxMailOutSize when it sends less."""
        if self.identity is None:
            return self.max_size
        return await self.runtime.delivery.send_limit(self.identity.account_id, self.max_size)

    async def rcpt(self, c: wire.Rcpt) -> None:
        t = self.transaction
        if t is None:
            raise Refused(codes.NEED_MAIL)
        if len(t.recipients) >= self.max_recipients:
            self.send(codes.TOO_MANY_RECIPIENTS)  # not an error: the client sends the rest later
            return
        if c.utf8 and not t.params.smtputf8:
            raise Refused(Reply(553, "5.6.7", "a non-ASCII address needs SMTPUTF8"))
        if c.params != wire.RcptParams() and (self.helo is None or not self.helo.extended):
            raise Refused(Reply(555, "5.5.4", "parameters need EHLO"))
        try:
            if self.identity is not None:
                recipient = await self.runtime.delivery.submission_recipient(c.recipient, t.params.size or 0)
            else:
                resolved = await self.runtime.delivery.resolve(c.recipient)
                if resolved is None:
                    if not (self.conn.trusted and self.mode is Mode.MX):
                        raise Refused(Reply(554, "5.7.1", f"<{c.recipient}>: relay access denied"))
                    resolved = Recipient(c.recipient, remote=(c.recipient,))
                if resolved.remote:
                    await self.runtime.delivery.check_remote(resolved)
                await self.runtime.delivery.check_room(resolved, t.params.size or 0)
                recipient = resolved
        except DeliveryError as error:
            self.log.info("smtp.recipient_refused", recipient=c.recipient, reason=type(error).__name__)
            raise Refused(codes.delivery_reply(error)) from None
        notify = ",".join(sorted(c.params.notify)) if c.params.notify else None
        t.recipients.append((replace(recipient, notify=notify, orcpt=c.params.orcpt), c.params))
        self.ok("recipient ok", "2.1.5")

    # -- the message --

    def ready_for_data(self) -> Transaction:
        t = self.transaction
        if t is None:
            raise Refused(codes.NEED_MAIL)
        if not t.recipients:
            raise Refused(codes.NO_RECIPIENTS)
        return t

    async def data(self, c: wire.Data) -> None:
        t = self.ready_for_data()
        if t.chunked or t.failed:
            raise Refused(Reply(503, "5.5.1", "DATA cannot follow BDAT"))
        limit = await self.size_limit()  # before 354: after it, nothing may fail short of reading the data
        self.send(Reply(354, None, "end data with <CR><LF>.<CR><LF>"))
        await self.conn.drain()
        reader = wire.DotReader(limit)
        while not reader.done:
            piece = await self.conn.read_some(READ_CHUNK)
            used = reader.feed(piece)
            if used < len(piece):
                self.conn.unread(piece[used:])
        self.transaction = None
        if reader.too_big:
            self.log.info("smtp.too_big", size=reader.received)
            await self.refuse_all(t, codes.TOO_BIG)
            return
        message, bare = reader.message()
        if bare:
            self.log.info("smtp.bare_line_ends_normalized", size=len(message))
            if len(message) > limit:  # CRLF for bare LF can grow it past the limit
                await self.refuse_all(t, codes.TOO_BIG)
                return
        await self.finish(t, message)

    async def bdat(self, c: wire.Bdat) -> None:
        t = self.transaction
        usable = t is not None and bool(t.recipients) and not t.failed
        limit = await self.size_limit() if usable else 0
        keep = usable and t is not None and t.chunked + c.size <= limit
        await self.read_chunk(c.size, t.body if keep and t is not None else None)
        if t is None or not usable:
            if t is not None:
                t.failed = True
            raise Refused(_out_of_sequence(t))  # RFC 3030 3: the chunk is read and thrown away, and refused
        t.chunked += c.size
        if not keep:
            raise self.too_big(t)
        if not c.last:
            self.ok(f"{c.size} octets received")
            return
        await self.last_chunk(t, limit)

    def too_big(self, t: Transaction) -> Refused:
        """A chunk (BDAT, BURL) took the message past its limit: the rest of the transaction is refused."""
        t.failed = True
        t.body.clear()
        self.log.info("smtp.too_big", size=t.chunked)
        return Refused(codes.TOO_BIG)

    async def last_chunk(self, t: Transaction, limit: int) -> None:
        """BDAT LAST or BURL LAST: the message is whole; deliver it."""
        self.transaction = None
        t.body.finish()
        message, bare = t.body.message()
        if bare:
            self.log.info("smtp.bare_line_ends_normalized", size=len(message))
            if len(message) > limit:
                await self.refuse_all(t, codes.TOO_BIG)
                return
        await self.finish(t, message)

    async def burl(self, c: wire.Burl) -> None:
        """RFC 4468: the data of a URLAUTH-authorized IMAP URL (GENURLAUTH'd with "submit+<this user>" or
        another access identifier this user may use) is the next piece of the message, as a BDAT chunk
        is; BURL and BDAT mix, and BURL LAST ends the message. Only on submission, once authenticated."""
        if not self.submission:
            raise Refused(Reply(502, "5.5.1", "BURL is available on the submission ports"))
        if self.identity is None:
            raise Refused(codes.NEED_AUTH)
        t = self.transaction
        if t is None or not t.recipients or t.failed:
            raise Refused(_out_of_sequence(t))
        limit = await self.size_limit()
        try:
            data = await self.runtime.mailstore.fetch_url(c.url, Requester(self.identity.account_id, submit=True))
        except imapurl.BadUrl as err:
            # The message would miss this piece: the rest of the transaction is refused (503) until RSET.
            t.failed = True
            self.log.info("smtp.burl_refused", reason=str(err))
            raise Refused(codes.burl_reply(c.url, err)) from None
        t.chunked += len(data)
        if t.chunked > limit:
            raise self.too_big(t)
        t.body.take(data)
        if not c.last:
            self.ok(f"{len(data)} octets appended", "2.5.0")
            return
        await self.last_chunk(t, limit)

    async def refuse_all(self, t: Transaction, reply: Reply) -> None:
        """A refusal of the whole message: once in SMTP, once per accepted recipient in LMTP (RFC 2033 4.2)."""
        if self.mode is Mode.LMTP:
            for _ in t.recipients[1:]:
                self.send(reply)
        await self.refuse_reply(reply)

    async def read_chunk(self, size: int, body: wire.Normaliser | None) -> None:
        """A BDAT chunk into `body` as it arrives, or read and thrown away (None)."""
        if body is None:
            await self.conn.discard(size)
            return
        remaining = size
        while remaining:
            piece = await self.conn.read_some(min(remaining, READ_CHUNK))
            body.take(piece)
            remaining -= len(piece)

    async def finish(self, t: Transaction, message: bytes) -> None:
        """Deliver, then answer: SMTP one reply, LMTP one per recipient (RFC 2033 4.2)."""
        header_end = message.find(b"\r\n\r\n")
        if len(_RECEIVED.findall(message if header_end < 0 else message[:header_end + 2])) > MAX_HOPS:
            await self.refuse_all(t, codes.TOO_MANY_HOPS)
            return
        junk = False
        verified = self.identity is not None or self.conn.trusted
        mail = self.runtime.config.mail
        message = strip_forged(message, self.hostname)  # from everyone: only we write results naming us
        if self.mode is Mode.MX and not verified and mail.check_inbound:
            verdict = await self.runtime.mailauth.check(self.conn.remote_ip, self.helo.domain if self.helo else "",
                                                        t.sender, message)
            message = verdict.header + message
            self.log.info("smtp.authentication", spf=verdict.spf, dkim=[r.result for r in verdict.dkim],
                          dmarc=verdict.dmarc, action=verdict.action, author=verdict.from_domain)
            if mail.dmarc == "enforce" and verdict.action == "reject":
                await self.refuse_all(t, Reply(550, "5.7.1",
                                               f"rejected by the DMARC policy of {verdict.from_domain}"))
                return
            junk = mail.dmarc == "enforce" and verdict.action == "quarantine"
            verified = verdict.spf == "pass" or verdict.dmarc == "pass"
        trace = Trace(self.helo.domain if self.helo else "unknown", self.conn.remote_ip, self.protocol_name(),
                      self.tls_description(), self.identity.address if self.identity else None,
                      self.conn.trusted, verified=verified)
        delivery = self.runtime.delivery
        if self.mode is Mode.LMTP:
            results = await asyncio.gather(*(delivery.deliver(t.sender, [r], message, trace)
                                             for r, _ in t.recipients), return_exceptions=True)
            for (recipient, _), outcome in zip(t.recipients, results, strict=True):
                if isinstance(outcome, DeliveryError):
                    self.send(codes.delivery_reply(outcome))
                elif isinstance(outcome, BaseException):
                    self.log.error("smtp.delivery_failed", recipient=recipient.address, error=repr(outcome))
                    self.send(codes.TEMP_FAILURE)
                else:
                    self.ok(f"<{recipient.address}> delivered as {outcome.id}")
            return
        options = Options(t.params.envid, t.params.ret, t.params.smtputf8, t.params.requiretls)
        try:
            delivered = await delivery.deliver(t.sender, [r for r, _ in t.recipients], message, trace, options,
                                               junk=junk)
        except DeliveryError as error:
            raise Refused(codes.delivery_reply(error)) from None
        self.log.info("smtp.accepted", id=delivered.id, sender=t.sender, recipients=len(t.recipients),
                      size=delivered.size, authenticated=self.identity.address if self.identity else None)
        self.ok(f"ok: queued as {delivered.id}")


for _command, _handler in (
    (wire.Hello, SmtpSession.hello), (wire.Mail, SmtpSession.mail), (wire.Rcpt, SmtpSession.rcpt),
    (wire.Data, SmtpSession.data), (wire.Bdat, SmtpSession.bdat), (wire.Burl, SmtpSession.burl),
    (wire.Rset, SmtpSession.rset),
    (wire.Noop, SmtpSession.noop), (wire.Quit, SmtpSession.quit), (wire.StartTls, SmtpSession.starttls),
    (wire.Auth, SmtpSession.auth), (wire.Vrfy, SmtpSession.vrfy), (wire.Expn, SmtpSession.expn),
    (wire.Help, SmtpSession.help),
):
    COMMANDS.add(_command, _handler, ALWAYS)
