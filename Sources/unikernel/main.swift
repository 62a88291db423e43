print("unikernel")
