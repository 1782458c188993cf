"""The record schema, as SQLAlchemy Core tables: the reference the migrations must produce.

Imported only by the migrations and the tests (SQLAlchemy is too heavy for the node's start-up; see
store/sql.py). Conventions: names are stored lower-case (they are case-insensitive); dictionaries and
arrays (settings, prefs, rights) are JSON text; times are Unix seconds; identifiers are 64-bit.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite's rowid alias needs exactly INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Server-wide dictionaries: "main_domain", "account_defaults", "domain_defaults", ... (JSON).
server_dicts = Table(
    "server_dicts", metadata,
    Column("name", String(64), primary_key=True),
    Column("data", Text, nullable=False),
)

domains = Table(
    "domains", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("settings", Text, nullable=False),
    Column("account_defaults", Text, nullable=False),
    Column("account_template", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("account_prefs", Text, nullable=False, server_default="{}"),  # the domain's default prefs
    sqlite_autoincrement=True,  # never reuse an id, even the last one deleted
)

# A domain's name and its aliases share one namespace, so the database refuses a clash.
domain_names = Table(
    "domain_names", metadata,
    Column("name", String(255), primary_key=True),
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("is_alias", SmallInteger, nullable=False),
    Index("domain_names_domain", "domain_id"),
)

# Every named thing inside a domain (accounts, aliases, forwarders, groups, later lists) shares one
# namespace per domain: one row here each. An alias points at an account; a forwarder at an address.
objects = Table(
    "objects", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_id", Id, ForeignKey("objects.id", ondelete="CASCADE"), nullable=True),
    Column("target", Text, nullable=True),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("domain_id", "name", name="objects_domain_name"),
    Index("objects_target", "target_id"),
    Index("objects_domain_kind", "domain_id", "kind", "name"),
    sqlite_autoincrement=True,
)

accounts = Table(
    "accounts", metadata,
    Column("id", Id, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("storage", String(32), nullable=False),
    Column("settings", Text, nullable=False),
    Column("prefs", Text, nullable=False),
    Column("rights", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("scram_sha256", Text, nullable=False),
    Column("scram_sha1", Text, nullable=False, server_default=""),  # migration 0021
    # The password encrypted with the server's key, kept only when RecoverablePassword is YES (for
    # challenge-response logins such as APOP); empty otherwise.
    Column("password_secret", Text, nullable=False, server_default=""),
    Column("password_changed", BigInteger, nullable=True),
    Column("last_login", BigInteger, nullable=True),
    Column("last_address", String(64), nullable=True),
)

groups = Table(
    "groups", metadata,
    Column("id", Id, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("settings", Text, nullable=False),
)

group_members = Table(
    "group_members", metadata,
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("address", String(320), nullable=False),
)


# -- the mailstore --------------------------------------------------------------------------------------

mailboxes = Table(
    "mailboxes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # also the UIDVALIDITY: never reused
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(1000), nullable=False),  # "INBOX", "Archive/2026": "/" separates levels
    Column("special_use", String(16), nullable=True),  # RFC 6154: "\\Sent", "\\Trash", ...
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger, nullable=False),
    # Counters kept with every change, so STATUS and quotas need no scan:
    Column("messages", BigInteger, nullable=False),
    Column("unseen", BigInteger, nullable=False),
    Column("deleted", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("mailbox_class", String(64), nullable=True),  # CommuniGate's CLASS ("IPF.Appointment"); NULL: mail
    # Keywords ever set on a message here, space-separated (IMAP's FLAGS); NULL: not known yet, computed from
    # the messages at first use (mailboxes made before revision 0011).
    Column("keywords", Text, nullable=True),
    # The lowest UID no IMAP4rev1 session has seen as \Recent yet (RFC 3501 2.3.2): a SELECT claims up to uidnext.
    Column("first_recent", BigInteger, nullable=False, server_default="1"),
    UniqueConstraint("account_id", "name", name="mailboxes_account_name"),
    sqlite_autoincrement=True,
)

# One row per distinct message content (blob), shared by every copy in every mailbox.
bodies = Table(
    "bodies", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # also the EMAILID (RFC 8474)
    Column("blob", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("structure", Text, nullable=False),  # mime.structure.Structure as JSON
    Column("sent", BigInteger, nullable=True),  # the Date header, for SEARCH SENT* and SORT DATE
    Column("message_id", String(998), nullable=True),  # to find a reply's thread
    Column("subject", Text, nullable=False),  # decoded, for SEARCH SUBJECT
    Column("addresses", Text, nullable=False),  # decoded From/To/Cc/Bcc lines, for SEARCH FROM/TO/...
    Column("refs", BigInteger, nullable=False),  # messages pointing here
    Column("orphaned", BigInteger, nullable=True),  # when refs fell to 0: swept (with the blob) later
    # A small message's bytes, kept here rather than as a file (mailstore: INLINE_BODY); NULL when the blob
    # store holds them. Last, so reading the other columns never touches it.
    Column("data", LargeBinary, nullable=True),
    Index("bodies_orphaned", "orphaned"),
    Index("bodies_message_id", "message_id"),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mailbox_id", Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("flags", Integer, nullable=False),  # system flags, a bit each (mailstore.flags)
    Column("keywords", Text, nullable=False),  # other flags, space-separated
    Column("internal_date", BigInteger, nullable=False),
    Column("saved", BigInteger, nullable=False),  # SAVEDATE (RFC 8514)
    Column("size", BigInteger, nullable=False),
    Column("body_id", Id, ForeignKey("bodies.id"), nullable=False),
    Column("thread_id", Id, nullable=False),  # THREADID (RFC 8474)
    UniqueConstraint("mailbox_id", "uid", name="messages_mailbox_uid"),
    Index("messages_mailbox_modseq", "mailbox_id", "modseq"),
    Index("messages_body", "body_id"),
    sqlite_autoincrement=True,
)

# Expunged UIDs and when (modseq), for QRESYNC's VANISHED and for sessions catching up (RFC 7162).
expunged = Table(
    "expunged", metadata,
    Column("mailbox_id", Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("uid", BigInteger, primary_key=True),
    Column("modseq", BigInteger, nullable=False),
    Index("expunged_mailbox_modseq", "mailbox_id", "modseq"),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(1000), primary_key=True),  # may name a mailbox that does not exist (RFC 3501)
)

# Rights other accounts of the owner's domain have on a mailbox (RFC 4314; mailstore/acl.py). `grantee` is
# the account's id, or 0 for "anyone" (every account of the domain); no foreign key, so a deleted grantee
# leaves a row that matches nobody (ids are never reused) and that GETACL does not show. `negative` rows
# take rights away ("-name").
mailbox_acl = Table(
    "mailbox_acl", metadata,
    Column("mailbox_id", Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("grantee", Id, primary_key=True, autoincrement=False),
    Column("negative", SmallInteger, primary_key=True, autoincrement=False),
    Column("rights", String(32), nullable=False),
    Index("mailbox_acl_grantee", "grantee"),
)

# IMAP METADATA (RFC 5464; mailstore/metadata.py): entries on a mailbox (`mailbox_id`) or on the server
# (NULL), private to `account_id` ("/private/...") or shared (NULL: "/shared/..."). `scope` repeats the two
# ("m<id>" or "s", then ":a<id>" or ":s") so one plain key is unique on both backends: a unique index over
# nullable columns lets NULLs repeat. Names are stored lower-case (entry names are case-insensitive); values
# are bytes (binary-safe). The foreign keys delete a mailbox's or an account's entries with it.
mailbox_metadata = Table(
    "mailbox_metadata", metadata,
    Column("scope", String(48), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("mailbox_id", Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("value", LargeBinary, nullable=False),
    Index("mailbox_metadata_mailbox", "mailbox_id"),
    Index("mailbox_metadata_account", "account_id"),
)

# IMAP URLAUTH (RFC 4467; mailstore/urlauth.py): the secret that signs the URLs an account generates for a
# mailbox (its own or another's it reads), made on first use; RESETKEY deletes them, and so does deleting
# the mailbox or the account.
mailbox_access_keys = Table(
    "mailbox_access_keys", metadata,
    Column("mailbox_id", Id, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Index("mailbox_access_keys_account", "account_id"),
)

# XMPP rosters (RFC 6121 2; im/roster.py): an account's contacts by bare JID, with the subscription state
# ("none", "to", "from", "both"), an outbound request pending (`ask`), an inbound one waiting for the user
# (`pending_in`), a pre-approval (`approved`) and the groups (a JSON list). `listed` is 0 for a contact
# whose request waits but who is not in the roster (RFC 6121 3.1.3). Every change raises the account's
# roster version (XEP-0237).
xmpp_roster = Table(
    "xmpp_roster", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("contact", String(3071), primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("subscription", String(8), nullable=False, server_default="none"),
    Column("ask", SmallInteger, nullable=False, server_default="0"),
    Column("pending_in", SmallInteger, nullable=False, server_default="0"),
    Column("approved", SmallInteger, nullable=False, server_default="0"),
    Column("groups", Text, nullable=False, server_default="[]"),
    Column("listed", SmallInteger, nullable=False, server_default="1"),
)
xmpp_roster_versions = Table(
    "xmpp_roster_versions", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Id, nullable=False),
)

# XMPP offline messages (XEP-0160; im/offline.py): a message for an account with no available resource, as
# the stanza's XML (addressed and stamped), kept in arrival order until the account comes online.
xmpp_offline = Table(
    "xmpp_offline", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("stanza", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Index("xmpp_offline_account", "account_id", "id"),
)

# XMPP block lists (XEP-0191; im/blocking.py): the JIDs (bare, full or a domain) an account blocks.
xmpp_blocks = Table(
    "xmpp_blocks", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("jid", String(3071), primary_key=True),
)

# XMPP vCards (XEP-0054; im/vcards.py): an account's vCard as the XML its client set.
xmpp_vcards = Table(
    "xmpp_vcards", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("vcard", Text, nullable=False),
)

# XMPP private XML storage (XEP-0049; im/private.py): an account's private XML fragments, by namespace.
xmpp_private = Table(
    "xmpp_private", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("namespace", String(1024), primary_key=True),
    Column("xml", Text, nullable=False),
)

# XMPP push notifications (XEP-0357; im/push.py): where an account's clients asked to be woken, and the
# publish options (the app server's secret) each notification carries.
xmpp_push = Table(
    "xmpp_push", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("service", String(1023), primary_key=True),
    Column("node", String(1023), primary_key=True),
    Column("options", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)

# XMPP's message archive (XEP-0313; im/archive.py): an account's one-to-one messages both ways, ordered by id
# (ids sort by time), with the id its clients see (XEP-0359), the other party, and when each expires. No
# index by contact: it would cost several times the inserts (migration 0015 says why).
xmpp_archive = Table(
    "xmpp_archive", metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(32), nullable=False),
    Column("with_jid", String(3071), nullable=False),
    Column("stamp", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("stanza", Text, nullable=False),
    Index("xmpp_archive_id", "account_id", "id", unique=True),  # ids sort by time (im/archive.py)
    Index("xmpp_archive_expires", "expires"),
)

# XMPP's persistent multi-user chat rooms (XEP-0045; im/rooms.py): a room by its service (conference.<domain>)
# and name, its configuration, affiliations and subject as JSON (xmpp/muc.py's Room.stored), for the domain.
xmpp_rooms = Table(
    "xmpp_rooms", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("service", String(255), nullable=False),
    Column("name", String(1023), nullable=False),
    Column("state", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Index("xmpp_rooms_name", "service", "name", unique=True),
    Index("xmpp_rooms_domain", "domain_id"),
    sqlite_autoincrement=True,
)

# A persistent room's messages (XEP-0313 for rooms; im/archive.py), as xmpp_archive keeps an account's.
xmpp_room_archive = Table(
    "xmpp_room_archive", metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("room_id", Id, ForeignKey("xmpp_rooms.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(32), nullable=False),
    Column("with_jid", String(3071), nullable=False),
    Column("stamp", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("stanza", Text, nullable=False),
    Index("xmpp_room_archive_id", "room_id", "id", unique=True),
    Index("xmpp_room_archive_expires", "expires"),
)

# XMPP's personal eventing (XEP-0163; im/pep.py): an account's nodes with their configuration (JSON), and
# their items in the order published (seq).
xmpp_pep_nodes = Table(
    "xmpp_pep_nodes", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("node", String(1023), primary_key=True),
    Column("config", Text, nullable=False),
)

xmpp_pep_items = Table(
    "xmpp_pep_items", metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("node", String(1023), nullable=False),
    Column("item_id", String(1023), nullable=False),
    Column("stamp", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Index("xmpp_pep_items_id", "account_id", "node", "item_id", unique=True),
)

# XMPP's HTTP file upload (XEP-0363; im/uploads.py): a slot by its secret token, the file's name, size and
# type, its account, its expiry, and whether the file came (the bytes are files in uploads/, not blobs).
xmpp_uploads = Table(
    "xmpp_uploads", metadata,
    Column("token", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("complete", SmallInteger, nullable=False),
    Index("xmpp_uploads_account", "account_id"),
    Index("xmpp_uploads_expires", "expires"),
)

# The outbound queue (queue/): a message waiting to be sent to other domains, and its recipients there.
# The bytes live in `data` when small (as bodies do), else in the blob store under `blob`.
queue_messages = Table(
    "queue_messages", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ident", String(32), nullable=False),  # the id in logs and replies ("queued as")
    Column("sender", Text, nullable=False),  # "" for the null reverse-path (bounces)
    Column("size", BigInteger, nullable=False),
    Column("blob", String(64), nullable=True),
    Column("envid", Text, nullable=True),  # DSN (RFC 3461): ENVID and RET
    Column("ret", String(4), nullable=True),
    Column("flags", SmallInteger, nullable=False),  # queue.records: SMTPUTF8, EIGHT_BIT, REQUIRETLS, VERIFIED
    Column("origin", Text, nullable=False),  # who handed it in (account or client address), for the admin
    Column("created", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=True),
    sqlite_autoincrement=True,
)

queue_recipients = Table(
    "queue_recipients", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("queue_messages.id", ondelete="CASCADE"), nullable=False),
    Column("address", Text, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("orcpt", Text, nullable=True),
    Column("notify", String(40), nullable=True),  # "SUCCESS,FAILURE,DELAY", "NEVER", NULL: not given
    Column("status", String(10), nullable=False),  # queued, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),  # also a lease while an attempt runs
    Column("last_error", Text, nullable=True),
    Column("delay_notified", SmallInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("queue_recipients_due", "status", "next_attempt"),
    Index("queue_recipients_message", "message_id"),
)

# DKIM signing keys of a domain (dkim/keys.py): made with the domain, published by `polyport dkim show`.
domain_keys = Table(
    "domain_keys", metadata,
    Column("domain_id", Id, ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True),
    Column("selector", String(63), primary_key=True),
    Column("algorithm", String(32), nullable=False),
    Column("private_key", Text, nullable=False),  # PEM (PKCS#8)
    Column("created", BigInteger, nullable=False),
)

# Who got a vacation answer from an account, and when: once per sender per period (RFC 3834, RFC 5230).
vacation_replies = Table(
    "vacation_replies", metadata,
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("replied", BigInteger, nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("seen", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("lifetime", BigInteger, nullable=False),
    Column("remote", String(64), nullable=False),
    Column("credential", String(16), nullable=False),
    Index("web_sessions_account", "account_id"),
    Index("web_sessions_expires", "expires"),
)
