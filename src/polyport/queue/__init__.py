"""The outbound queue: mail for other domains, sent with retries and notices (see service.py)."""

from polyport.queue.client import Delivered, RelayHost, SmtpSender
from polyport.queue.records import NewRecipient
from polyport.queue.service import Prepared, Queue, QueueLimits

__all__ = ["Delivered", "NewRecipient", "Prepared", "Queue", "QueueLimits", "RelayHost", "SmtpSender"]
