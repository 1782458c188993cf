"""Instant messaging's records, for the protocols that carry it (XMPP now; XIMSS and the webmail later):
rosters (`roster.py`, with the subscription state machine in `subscriptions.py`), offline messages
(`offline.py`), block lists (`blocking.py`), vCards (`vcards.py`), the message archive (`archive.py`) and
private XML storage (`private.py`), push registrations (`push.py`). Protocol packages reach them through
`Runtime.rosters`, `Runtime.offline`, `Runtime.blocklists`, `Runtime.vcards`, `Runtime.archive`,
`Runtime.private` and `Runtime.push`, never by SQL."""

from polyport.im.archive import ArchiveItemNotFound, MessageArchive
from polyport.im.blocking import BlocklistFull, Blocklists
from polyport.im.offline import OfflineFull, OfflineMessages
from polyport.im.private import PrivateStorage, PrivateStorageFull
from polyport.im.push import PushOptionsTooLarge, PushRegistrations
from polyport.im.roster import RosterItem, RosterRefused, Rosters
from polyport.im.vcards import Vcards, VcardTooLarge

__all__ = ["ArchiveItemNotFound", "BlocklistFull", "Blocklists", "MessageArchive", "OfflineFull", "OfflineMessages",
           "PrivateStorage", "PrivateStorageFull", "PushOptionsTooLarge", "PushRegistrations", "RosterItem",
           "RosterRefused", "Rosters", "VcardTooLarge", "Vcards"]
