// VirtioBlk: see the module documentation.
