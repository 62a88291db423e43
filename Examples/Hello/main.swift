// Hello: the smallest application. Prints a greeting and its command-line arguments, then exits 0.
//
//   swift run unikernel build Hello
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/Hello --append "one two"
import Runtime

print("Hello from a Swift unikernel!")
for argument in System.arguments {
    print("argument: " + argument)
}
