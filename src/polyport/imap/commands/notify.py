"""NOTIFY (RFC 5465) and UNAUTHENTICATE (RFC 8437).

NOTIFY SET replaces what the session asked before; NOTIFY NONE turns it off. The rules between events
(MessageNew with MessageExpunge, FlagChange with both, message events only under SELECTED) are BAD, more
than notifications.MAX_MAILBOX_NAMES names NO [LIMIT], events not supported NO [BADEVENT (...)]
(notifications.check_groups). With STATUS, a STATUS response for each mailbox whose message events are asked for
goes out before the tagged OK. What happens afterwards is notifications.py's and session.py's.

UNAUTHENTICATE ends the login, not the connection: the selection (without an expunge), NOTIFY, enabled
extensions and everything else of the login go; TLS and COMPRESS stay, as the RFC says.
"""

from __future__ import annotations

from polyport.imap import wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.notifications import Notifications, NotifyError, check_groups
from polyport.imap.session import AUTHENTICATED, ImapSession, State, handles
from polyport.kernel.turns import Turns


@handles(wire.Notify, AUTHENTICATED)
async def notify(s: ImapSession, c: wire.Notify) -> None:
    bus = s.runtime.bus
    if bus is None:
        raise ImapRefusal("NO", "NOTIFY needs the event bus, which this node runs without", "UNAVAILABLE")
    if c.groups is None:
        s.notify_off()
        await s.finish(c, "NOTIFY NONE completed")
        return
    try:
        check_groups(c.groups)
    except NotifyError as err:
        raise ImapRefusal(err.status, str(err), err.code) from None
    s.notify_off()
    watching = Notifications(c.groups, s.account_id, bus, s.mailstore)
    await watching.start()
    s.notify = watching
    if c.status:
        selected_id = s.selected.id if s.selected is not None else None
        turns = Turns()
        for mailbox_id in await watching.status_mailboxes(selected_id):
            line = await watching.status_line(mailbox_id, condstore=s.condstore, utf8=s.utf8)
            if line is not None:
                s.send(line)
            await turns.share()  # thousands of mailboxes, each a read of the store
    await s.finish(c, "NOTIFY completed")


@handles(wire.Unauthenticate, AUTHENTICATED)
async def unauthenticate(s: ImapSession, c: wire.Unauthenticate) -> None:
    await s.updates(c)
    s.unselect()
    s.notify_off()
    s.identity = None
    s.enabled.clear()
    s.utf8 = False
    s.state = State.NOT_AUTHENTICATED
    s.ok(c.tag, "UNAUTHENTICATE completed; log in again")
