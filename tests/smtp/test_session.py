"""SMTP sessions against a running node: the MX, submission, SMTPS, and what they store."""

from __future__ import annotations

import base64
import smtplib
import socket
import time

import pytest

from tests.smtp.conftest import MAX_SIZE, PASSWORD, Client, SmtpNode, client_tls

MESSAGE = b"From: a@remote.test\r\nSubject: hello\r\n\r\nHi.\r\n"


def plain(address: str, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{address}\0{password}".encode()).decode()


def send(c: Client, sender: str, recipients: list[str], data: bytes = MESSAGE) -> tuple[int, list[str]]:
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    for r in recipients:
        assert c.code(f"RCPT TO:<{r}>") == 250, r
    assert c.code("DATA") == 354
    c.send(data + b".\r\n")
    return c.reply()


# -- greeting and EHLO --


def test_greeting_and_extensions(smtp_node: SmtpNode) -> None:
    c = Client(smtp_node.port)
    assert c.greeting[0] == 220 and "ESMTP Polyport" in c.greeting[1][0]
    code, lines = c.command("EHLO client.test")
    assert code == 250 and "greets client.test" in lines[0]
    keywords = set(lines[1:])
    assert {"PIPELINING", f"SIZE {MAX_SIZE}", "8BITMIME", "SMTPUTF8", "CHUNKING", "ENHANCEDSTATUSCODES", "DSN",
            "STARTTLS"} <= keywords
    # Untrusted and without TLS: only SCRAM, which sends no password.
    assert "AUTH SCRAM-SHA-256" in keywords
    c.starttls()
    keywords = set(c.command("EHLO client.test")[1][1:])
    assert "STARTTLS" not in keywords and "REQUIRETLS" in keywords
    assert "AUTH SCRAM-SHA-256 PLAIN LOGIN" in keywords
    assert c.code("QUIT") == 221
    assert c.closed()


def test_helo_is_plain_smtp(smtp_node: SmtpNode) -> None:
    c = Client(smtp_node.port)
    code, lines = c.command("HELO old.client")
    assert code == 250 and len(lines) == 1
    assert c.command("MAIL FROM:<a@remote.test> SIZE=10")[0] == 555  # parameters need EHLO
    assert c.code("MAIL FROM:<a@remote.test>") == 250


def test_commands_in_the_wrong_order(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    assert c.command("MAIL FROM:<a@remote.test>")[0] == 503  # no EHLO yet
    c.command("EHLO x")
    assert c.command(f"RCPT TO:<{user}>")[0] == 503  # no MAIL yet
    assert c.command("DATA")[0] == 503
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.command("MAIL FROM:<a@remote.test>")[0] == 503  # nested
    assert c.command("DATA")[0] == 554  # no recipients
    assert c.code("RSET") == 250
    assert c.code("NOOP") == 250
    assert c.command("LHLO x")[0] == 500
    assert c.command("VRFY postmaster")[0] == 252
    assert c.command("EXPN staff")[0] == 502
    assert c.command("HELP")[0] == 214
    assert c.command("FOO bar")[1][0].startswith("5.5.2")


# -- the MX --


def test_mail_for_a_local_account_is_stored_with_trace_fields(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO sender.test")
    code, lines = send(c, "a@remote.test", [user])
    assert code == 250 and lines[0].startswith("2.0.0 ok: queued as ")
    [stored] = smtp_node.inbox(user)
    assert stored.startswith(b"Return-Path: <a@remote.test>\r\nReceived: from sender.test ([127.0.0.1])")
    assert f"for <{user}>".encode() in stored and b"with ESMTP " in stored
    assert stored.endswith(MESSAGE)


def test_unknown_users_and_relaying_are_refused_and_the_rest_delivered(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    code, lines = c.command("RCPT TO:<nobody@example.com>")
    assert (code, lines[0][:5]) == (550, "5.1.1")
    code, lines = c.command("RCPT TO:<someone@elsewhere.test>")
    assert (code, lines[0][:5]) == (554, "5.7.1") and "relay access denied" in lines[0]
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250
    assert len(smtp_node.inbox(user)) == 1


def test_pipelined_transaction(smtp_node: SmtpNode) -> None:
    one, two = smtp_node.account(), smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    c.send(f"MAIL FROM:<a@remote.test>\r\nRCPT TO:<{one}>\r\nRCPT TO:<nobody@example.com>\r\n"
           f"RCPT TO:<{two}>\r\nDATA\r\n".encode())
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    c.send(MESSAGE + b".\r\nMAIL FROM:<b@remote.test>\r\nRCPT TO:<" + one.encode() + b">\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    c.send(b"Subject: two\r\n\r\n.\r\nQUIT\r\n")
    assert [c.reply()[0] for _ in range(2)] == [250, 221]
    assert len(smtp_node.inbox(one)) == 2 and len(smtp_node.inbox(two)) == 1


def test_dot_stuffing_and_bare_line_ends(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    data = b"Subject: dots\r\n\r\n..leading dot\r\nbare\nlf\n.\nstill in\r\n"
    assert send(c, "a@remote.test", [user], data)[0] == 250
    [stored] = smtp_node.inbox(user)
    assert stored.endswith(b"Subject: dots\r\n\r\n.leading dot\r\nbare\r\nlf\r\n.\r\nstill in\r\n")


@pytest.mark.parametrize("smuggled", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"])
def test_smuggling_does_not_start_a_second_message(smtp_node: SmtpNode, smuggled: bytes) -> None:
    user, victim = smtp_node.account(), smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: one\r\n\r\nfirst" + smuggled
           + f"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<{victim}>\r\nDATA\r\nSubject: forged\r\n\r\n".encode()
           + b"x\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.code("NOOP") == 250
    assert smtp_node.inbox(victim) == []
    [stored] = smtp_node.inbox(user)
    assert b"Subject: forged" in stored


def test_a_line_too_long_is_refused_and_the_session_goes_on(smtp_node: SmtpNode) -> None:
    c = Client(smtp_node.port)
    c.command("EHLO x")
    code, lines = c.command("MAIL FROM:<" + "a" * 5000 + "@remote.test>")
    assert (code, lines[0][:5]) == (500, "5.5.2")
    assert c.code("NOOP") == 250


def test_size_limits(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    code, lines = c.command(f"MAIL FROM:<a@remote.test> SIZE={MAX_SIZE + 1}")
    assert (code, lines[0][:5]) == (552, "5.3.4")
    assert c.code(f"MAIL FROM:<a@remote.test> SIZE={MAX_SIZE}") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    line = b"x" * 998 + b"\r\n"
    for _ in range(MAX_SIZE // len(line) + 50):  # over the limit, streamed in
        c.send(line)
    c.send(b".\r\n")
    code, lines = c.reply()
    assert (code, lines[0][:5]) == (552, "5.3.4")
    assert c.code("NOOP") == 250  # the session goes on
    assert smtp_node.inbox(user) == []


def test_too_many_recipients(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    c.send(f"RCPT TO:<{user}>\r\n".encode() * 101)
    codes = [c.reply()[0] for _ in range(101)]
    assert codes[:100] == [250] * 100 and codes[100] == 452


def test_too_many_errors_end_the_session(smtp_node: SmtpNode) -> None:
    c = Client(smtp_node.port)
    started = time.monotonic()
    c.send(b"BOGUS\r\n" * 25)
    codes = [c.reply()[0] for _ in range(21)]
    assert codes[:20] == [500] * 20 and codes[20] == 421
    assert c.closed()
    assert time.monotonic() - started >= 9  # errors 10 to 19 were answered a second late


def test_a_client_vanishing_mid_data_leaves_nothing(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: cut\r\n\r\nhalf a mess")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.3)
    assert smtp_node.inbox(user) == []


def test_non_ascii_addresses_need_smtputf8(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    code, lines = c.command("MAIL FROM:<josé@remote.test>")
    assert (code, lines[0][:5]) == (553, "5.6.7")
    assert c.code("MAIL FROM:<josé@remote.test> SMTPUTF8") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: café\r\n\r\nsalut\r\n.\r\n".encode())
    assert c.reply()[0] == 250
    assert smtp_node.inbox(user)[0].startswith("Return-Path: <josé@remote.test>".encode())


# -- BDAT --


def test_bdat_chunks(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test> BODY=8BITMIME") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    first, second = b"Subject: chunks\r\n\r\nline one\r\n.no stuffing in BDAT\r\n", b"last line\r\n"
    c.send(b"BDAT %d\r\n" % len(first) + first)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % len(second) + second + b"NOOP\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    assert smtp_node.inbox(user)[0].endswith(first + second)
    # BDAT 0 LAST ends a message too, and DATA cannot follow BDAT.
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    c.send(b"BDAT 6\r\nab\r\n\r\n")
    assert c.reply()[0] == 250
    assert c.command("DATA")[0] == 503
    assert c.code("BDAT 0 LAST") == 250
    assert len(smtp_node.inbox(user)) == 2


def test_bdat_refusals_still_read_the_chunk(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    c.send(b"BDAT 10\r\nRSET\r\nRSET")  # no transaction: the ten octets are data, not commands
    assert c.reply()[0] == 503
    assert c.code("NOOP") == 250
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    big = b"y" * (MAX_SIZE + 10)
    c.send(b"BDAT %d LAST\r\n" % len(big) + big)
    code, lines = c.reply()
    assert (code, lines[0][:5]) == (552, "5.3.4")
    assert c.code("RSET") == 250
    assert smtp_node.inbox(user) == []


# -- submission --


def test_submission_requires_auth_and_tls_for_plaintext(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.submission)
    c.command("EHLO x")
    code, lines = c.command(f"MAIL FROM:<{user}>")
    assert (code, lines[0][:5]) == (530, "5.7.0")
    code, lines = c.command(f"AUTH PLAIN {plain(user)}")
    assert (code, lines[0][:6]) == (538, "5.7.11")
    c.starttls()
    assert c.command(f"AUTH PLAIN {plain(user)}")[0] == 503  # EHLO again after TLS
    c.command("EHLO x")
    code, lines = c.command(f"AUTH PLAIN {plain(user, 'wrong')}")
    assert (code, lines[0][:5]) == (535, "5.7.8")
    assert c.code(f"AUTH PLAIN {plain(user)}") == 235
    assert c.command(f"AUTH PLAIN {plain(user)}")[0] == 503  # once is enough
    code, lines = c.command("MAIL FROM:<someone.else@example.com>")
    assert (code, lines[0][:5]) == (553, "5.7.1")
    other = smtp_node.account()
    assert send(c, user, [other])[0] == 250
    assert send(c, "", [other])[0] == 250  # the null path, for notifications
    first, null_sender = smtp_node.inbox(other)
    assert null_sender.startswith(b"Return-Path: <>\r\n")
    assert b"with ESMTPSA" in first and f"authenticated as {user}".encode() in first.replace(b"\r\n\t", b" ")


def test_auth_as_another_account_is_refused_for_its_authorization_identity(smtp_node: SmtpNode) -> None:
    """Issue 12: an authzid naming another user was answered "this account may not send mail"."""
    user, other = smtp_node.account(), smtp_node.account()
    c = Client(smtp_node.submission)
    c.command("EHLO x")
    c.starttls()
    c.command("EHLO x")
    token = base64.b64encode(f"{other}\0{user}\0{PASSWORD}".encode()).decode()
    assert c.command(f"AUTH PLAIN {token}") == (535, ["5.7.8 authorization identity refused"])
    own = base64.b64encode(f"{user}\0{user}\0{PASSWORD}".encode()).decode()
    assert c.code(f"AUTH PLAIN {own}") == 235


def test_submission_with_an_alias_as_sender(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    smtp_node.call(smtp_node.running.runtime.directory.create_alias("nick-" + user, user))
    with smtplib.SMTP("127.0.0.1", smtp_node.submission) as s:
        s.starttls(context=client_tls())
        s.login(user, PASSWORD)
        assert s.sendmail("nick-" + user, [user], MESSAGE) == {}


def test_auth_login_and_cancel(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.submission)
    c.starttls()
    c.command("EHLO x")
    code, lines = c.command("AUTH LOGIN")
    assert code == 334 and base64.b64decode(lines[0]) == b"Username:"
    code, lines = c.command("*")
    assert (code, lines[0][:5]) == (501, "5.0.0")
    assert c.code("AUTH LOGIN") == 334
    assert c.code(base64.b64encode(user.encode()).decode()) == 334
    assert c.code(base64.b64encode(PASSWORD.encode()).decode()) == 235
    assert c.command("AUTH XOAUTH9")[0] == 503


def test_smtps_is_submission_inside_tls(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    with smtplib.SMTP_SSL("127.0.0.1", smtp_node.smtps, context=client_tls()) as s:
        _, text = s.ehlo("x")
        assert b"STARTTLS" not in text and b"AUTH SCRAM-SHA-256 PLAIN LOGIN" in text
        with pytest.raises(smtplib.SMTPSenderRefused):
            s.sendmail(user, [user], MESSAGE)
        s.login(user, PASSWORD)
        assert s.sendmail(user, [user], MESSAGE) == {}
    assert b"with ESMTPSA (using TLSv1.3" in smtp_node.inbox(user)[0].replace(b"\r\n\t", b" ")


def test_starttls_discards_pipelined_commands(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    c.send(f"STARTTLS\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<{user}>\r\n".encode())
    assert c.reply()[0] == 220
    c.sock = client_tls().wrap_socket(c.sock)
    c.file = c.sock.makefile("rb")
    # The injected MAIL was thrown away: RCPT now has no transaction.
    assert c.command(f"RCPT TO:<{user}>")[0] == 503
    c.command("EHLO x")
    assert c.command("STARTTLS")[0] == 503


def test_submission_queues_mail_for_other_domains(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    with smtplib.SMTP_SSL("127.0.0.1", smtp_node.smtps, context=client_tls()) as s:
        s.login(user, PASSWORD)
        assert s.sendmail(user, ["friend@elsewhere.test"], MESSAGE) == {}
    queued = smtp_node.call(smtp_node.running.runtime.queue.waiting())
    assert [m["sender"] for m in queued if m["sender"] == user] == [user]


def test_max_mail_out_size(smtp_node: SmtpNode) -> None:
    user = smtp_node.account(MaxMailOutSize="1K")
    with smtplib.SMTP_SSL("127.0.0.1", smtp_node.smtps, context=client_tls()) as s:
        s.login(user, PASSWORD)
        assert s.mail(user, ["SIZE=2000"])[0] == 552
        s.rset()
        assert s.sendmail(user, [user], MESSAGE) == {}


def test_a_client_vanishing_mid_bdat_leaves_nothing(smtp_node: SmtpNode) -> None:
    user = smtp_node.account()
    c = Client(smtp_node.port)
    c.command("EHLO x")
    assert c.code("MAIL FROM:<a@remote.test>") == 250
    assert c.code(f"RCPT TO:<{user}>") == 250
    c.send(b"BDAT 5\r\nfirst")
    assert c.reply()[0] == 250
    c.send(b"BDAT 1000 LAST\r\nSubject: cut\r\n\r\nonly part of")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.3)
    assert smtp_node.inbox(user) == []


def test_an_oversized_auth_response_is_refused_and_the_session_goes_on(smtp_node: SmtpNode) -> None:
    c = Client(smtp_node.submission)
    c.starttls()
    c.command("EHLO x")
    assert c.code("AUTH PLAIN") == 334
    code, lines = c.command("A" * 40_000)
    assert (code, lines[0][:5]) == (500, "5.5.6")
    assert c.code("NOOP") == 250
