// Hello: the smallest application. Prints a greeting and its command-line arguments, then exits 0.
//
//   swift run unikernel build Hello
//   swift run unikernel run .build-guest/.../Hello --append "one two"
import Runtime

print("Hello from a Swift unikernel!")
let arguments = System.arguments
print("arguments: \(arguments.count)")
for (index, argument) in arguments.enumerated() {
    print("  [\(index)] \(argument)")
}
