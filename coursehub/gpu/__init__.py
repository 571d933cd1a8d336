"""GPU allocation per course: admission (course caps, weekly GPU-hour budgets), the usage
ledger, enforcement (budgets, session length, GPU idle time), live availability, and usage
reports. ``policy`` and ``availability`` are pure; ``ledger`` is the SQL side;
``enforcer`` is the loop in the coursehub service that stops servers."""
