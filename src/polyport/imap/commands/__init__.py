"""IMAP command handlers, one function each, registered with `imap.session.handles` on import."""

from polyport.imap.commands import connection, fetching, mailboxes, messages, searching

__all__ = ["connection", "fetching", "mailboxes", "messages", "searching"]
