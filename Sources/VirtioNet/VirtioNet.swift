// VirtioNet: see the module documentation.
