"""The tailnet mesh: what a device runs to reach the other devices of its tailnet under the policy."""
