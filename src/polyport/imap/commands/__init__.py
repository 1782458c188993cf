"""IMAP command handlers, one function each, registered with `imap.session.handles` on import."""

from polyport.imap.commands import acl, connection, fetching, mailboxes, messages, metadata, notify, searching, urlauth

__all__ = ["acl", "connection", "fetching", "mailboxes", "messages", "metadata", "notify", "searching", "urlauth"]
