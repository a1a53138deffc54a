"""Display names of stored values (statuses, lead sources), as gettext messages.

`N_` only marks a text for the catalogue; templates translate with `_(label)`.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


LEAD_STATUS = {
    "new": N_("New"),
    "contacted": N_("Contacted"),
    "quoted": N_("Quoted"),
    "won": N_("Won"),
    "lost": N_("Lost"),
    "spam": N_("Spam"),
}
# The buttons that move a lead: "Mark as contacted" reads better than the bare status.
LEAD_STATUS_ACTION = {
    "new": N_("Reopen as new"),
    "contacted": N_("Mark as contacted"),
    "quoted": N_("Mark as quoted"),
    "won": N_("Mark as won"),
    "lost": N_("Mark as lost"),
    "spam": N_("Mark as spam"),
}
BOOKING_STATUS = {
    "scheduled": N_("Scheduled"),
    "confirmed": N_("Confirmed"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
BOOKING_STATUS_ACTION = {
    "scheduled": N_("Back to scheduled"),
    "confirmed": N_("Mark as confirmed"),
    "completed": N_("Mark as completed"),
}
SYNC_STATUS = {
    "running": N_("Running"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
    "partial": N_("Partly done"),
}
SYNC_MODE = {"full": N_("Full"), "incremental": N_("Incremental"), "mbox": N_("Mailbox file")}
HEALTH_STATUS = {"pass": N_("OK"), "warn": N_("Warning"), "fail": N_("Failing")}
CIRCUIT_STATE = {
    "closed": N_("Redis in use"),
    "open": N_("Redis unavailable: memory only"),
    "half_open": N_("Trying Redis again"),
}
# Lead platforms by parser name; a source not listed here is shown as stored.
SOURCE = {
    "rengoring_nu": "Rengøring.nu",
    "leadpoint": "Leadpoint",
    "adhelp": "AdHelp",
    "website": N_("Website"),
    "manual": N_("Entered by hand"),
}


def source_label(source: str) -> str:
    return SOURCE.get(source, source)
