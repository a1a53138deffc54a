"""The mail sync: sources (Gmail, mbox), the pipeline (parse → store → processors), the store,
the mailbox lease, run rows, the job that ties them together, and the background scheduler."""
