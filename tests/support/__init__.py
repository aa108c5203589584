"""What the tests share: waiting for a condition, the processes they start (each owned by a fixture), the local
chain."""
