// RamFS: see the module documentation.
