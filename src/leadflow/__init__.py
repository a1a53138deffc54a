"""leadflow: leads and customers from a mailbox."""

__version__ = "0.1.0"
