"""What one node's protocols share: the services and plumbing built once at start-up.

Protocol packages receive a `Runtime` and a `ResolvedService` (their row of the service table with this
node's settings) and return a handler; they reach the store only through the services here.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyport.auth.login import Authenticator
from polyport.auth.passwords import PasswordHasher
from polyport.auth.websessions import WebSessions
from polyport.bus import Bus
from polyport.config import Config
from polyport.delivery import Delivery
from polyport.directory import Directory
from polyport.im import (
    Blocklists,
    MessageArchive,
    OfflineMessages,
    PrivateStorage,
    PushRegistrations,
    Rosters,
    Vcards,
)
from polyport.im.pep import PepNodes
from polyport.im.rooms import RoomStore
from polyport.im.uploads import Uploads
from polyport.mailauth import Checker
from polyport.mailstore import Mailstore
from polyport.net.resolver import Resolver
from polyport.net.tls import TlsManager
from polyport.net.trusted import TrustedNetworks
from polyport.queue import Queue
from polyport.store import BlobStore, RecordStore
from polyport.store.memory import KeyValueStore
from polyport.workers.view import NodeView


# weakref_slot: protocols keep per-node state in weak maps keyed by the runtime (xmpp/router.py).
@dataclass(slots=True, weakref_slot=True, eq=False)  # one per node: compared and hashed by identity
class Runtime:
    config: Config
    records: RecordStore
    blobs: BlobStore
    bus: Bus
    kv: KeyValueStore  # counters, locks, rate limits and presence shared by the cluster's nodes
    passwords: PasswordHasher
    directory: Directory
    auth: Authenticator
    tls: TlsManager
    trusted: TrustedNetworks
    mailstore: Mailstore
    delivery: Delivery
    queue: Queue
    resolver: Resolver
    mailauth: Checker
    websessions: WebSessions
    view: NodeView  # the node as a whole (all its workers): metrics, connections, log
    rosters: Rosters  # instant messaging's contacts (XMPP)
    offline: OfflineMessages  # messages waiting for an account to come online (XMPP)
    blocklists: Blocklists  # whom each account blocks (XMPP)
    vcards: Vcards  # each account's vCard (XMPP)
    archive: MessageArchive  # each account's chat messages, for its clients to read again (XMPP)
    private: PrivateStorage  # each account's private XML fragments (XMPP)
    push: PushRegistrations  # where each account's clients asked to be woken (XMPP)
    rooms: RoomStore  # persistent multi-user chat rooms (XMPP)
    room_archive: MessageArchive  # persistent rooms' messages (XMPP)
    pep: PepNodes  # each account's personal eventing nodes (XMPP)
    uploads: Uploads  # files clients uploaded to share (XMPP)
