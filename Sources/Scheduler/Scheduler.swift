// Scheduler: see the module documentation.
