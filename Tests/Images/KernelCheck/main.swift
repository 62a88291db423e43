import Runtime
print("KernelCheck")
