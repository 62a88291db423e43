// Virtio: see the module documentation.
