"""Instant messaging's records, for the protocols that carry it (XMPP now; XIMSS and the webmail later):
rosters (`roster.py`, with the subscription state machine in `subscriptions.py`) and offline messages
(`offline.py`). Protocol packages reach them through `Runtime.rosters` and `Runtime.offline`, never by SQL."""

from polyport.im.offline import OfflineFull, OfflineMessages
from polyport.im.roster import RosterItem, RosterRefused, Rosters

__all__ = ["OfflineFull", "OfflineMessages", "RosterItem", "RosterRefused", "Rosters"]
