"""One module per dashboard page; see `leadflow.dashboard.web` for how to add one."""
