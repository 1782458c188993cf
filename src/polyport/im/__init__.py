"""Instant messaging's records, for the protocols that carry it (XMPP now; XIMSS and the webmail later):
rosters (`roster.py`). Protocol packages reach them through `Runtime.rosters`, never by SQL."""

from polyport.im.roster import RosterItem, RosterRefused, Rosters

__all__ = ["RosterItem", "RosterRefused", "Rosters"]
