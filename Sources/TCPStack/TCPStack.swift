// TCPStack: see the module documentation.
