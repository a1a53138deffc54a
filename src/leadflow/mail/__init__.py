"""Mail as leadflow stores it: the MIME parser (`mime`), the parsed form (`message`), stored
rows back to that form (`stored`), and the threads API (`service`, `schemas`, `router`)."""
