"""Generated moment benchmark: shot boundaries, spoken-moment retrieval and ingest speed."""
