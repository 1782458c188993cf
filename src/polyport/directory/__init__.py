"""The directory: domains, accounts, aliases, forwarders, groups and their settings (CommuniGate's model).

`Directory` (service.py) is the only way in; records.py holds its SQL, settings.py the settings schema,
names.py the naming rules, errors.py the typed refusals each protocol maps to its own codes.
"""

from polyport.directory.errors import (
    AlreadyExists,
    DirectoryError,
    DomainNotEmpty,
    InvalidName,
    InvalidSetting,
    ProtectedObject,
    UnknownDomain,
    UnknownObject,
)
from polyport.directory.service import AccountInfo, Directory, DomainInfo, GroupInfo, LoginRecord

__all__ = [
    "AccountInfo",
    "AlreadyExists",
    "Directory",
    "DirectoryError",
    "DomainInfo",
    "DomainNotEmpty",
    "GroupInfo",
    "InvalidName",
    "InvalidSetting",
    "LoginRecord",
    "ProtectedObject",
    "UnknownDomain",
    "UnknownObject",
]
