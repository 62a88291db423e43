// EmbedCheck: boot-test image for build-time content embedded with `unikernel embed` (written by the embed work).
import Runtime
print("EmbedCheck: no embedded-content support yet")
System.exit(.failure)
