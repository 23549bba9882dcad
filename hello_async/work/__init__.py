"""Work beyond the request: fire-and-forget background work, and durable tasks with their worker."""
