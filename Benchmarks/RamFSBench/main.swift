print("RamFSBench: not written yet")
