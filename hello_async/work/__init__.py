"""Work beyond the request: durable tasks (smoke orders), their worker, the board, retention."""
