"""GPU allocation per course, as pure rules: admission and enforcement decisions (course
caps, weekly GPU-hour budgets, session length, GPU idle time: ``policy``), live
availability (``availability``), GPU nodes (``nodes``) and usage reports (``reports``,
``usage_chart``). The SQL ledger and the loop that stops servers apply these rules inside
the coursehub service (``coursehub.service.gpu_ledger``, ``coursehub.service.gpu_enforcer``)."""
