// HTTP: see the module documentation.
