"""leadflow: leads and customers from a mailbox."""
