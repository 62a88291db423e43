import Foundation
import Testing

@testable import Interfaces

/// SHA-256 against the FIPS 180-4 example vectors (NIST "SHA256.pdf", CSRC examples) and against `sha256sum` on
/// random data split into random pieces.
@Suite struct SHA256Tests {
    func hex(_ text: String) -> String { SHA256.hash(Array(text.utf8)).description }

    @Test func knownVectors() {
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 448 bits: a one-block message whose padding needs a second block.
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // 896 bits.
        #expect(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(hex("The quick brown fox jumps over the lazy dog")
                == "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
    }

    @Test func oneMillionAsInPiecesOfEverySize() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        let a = [UInt8](repeating: 0x61, count: 1_000_000)
        #expect(SHA256.hash(a).description == expected)
        // Pieces of 1, 2, ..., 200 bytes, cycling: every buffered-count/remainder combination is crossed.
        var hasher = SHA256()
        var offset = 0
        var piece = 1
        a.withUnsafeBytes { all in
            while offset < all.count {
                let n = min(piece, all.count - offset)
                hasher.update(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                offset += n
                piece = piece % 200 + 1
            }
        }
        #expect(hasher.totalBytes == 1_000_000)
        #expect(hasher.finalize().description == expected)
    }

    @Test func digestBytesAndWordsAgree() throws {
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(digest.word(0) == 0xba78_16bf && digest.word(7) == 0xf200_15ad)
        let bytes = digest.bytes
        #expect(bytes.count == 32 && bytes.first == 0xba && bytes.last == 0xad)
        let back = try #require(bytes.withUnsafeBytes { SHA256.Digest(bytes: $0) })
        #expect(back == digest)
        #expect(back.hashValue == digest.hashValue)
        #expect([UInt8](repeating: 0, count: 31).withUnsafeBytes { SHA256.Digest(bytes: $0) } == nil)
        #expect(SHA256.Digest.zero != digest)
        var out = [UInt8](repeating: 0xEE, count: 33)
        out.withUnsafeMutableBytes { digest.write(to: $0) }
        #expect(Array(out.prefix(32)) == bytes && out[32] == 0xEE)
    }

    /// Random lengths around every block boundary and up to 300 KB, each split at random points, against
    /// `sha256sum` on the same bytes.
    @Test func matchesSha256sumOnRandomData() throws {
        let random = SeededEntropy(seed: 0x5A_256)
        var lengths = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 4095, 4096, 4097]
        for _ in 0..<24 { lengths.append(Int(random.next64() % 300_000)) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sha256-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        var ours: [String] = []
        for (i, length) in lengths.enumerated() {
            var data = [UInt8](repeating: 0, count: length)
            data.withUnsafeMutableBytes { random.fill($0) }
            let url = directory.appendingPathComponent("f\(i)")
            try Data(data).write(to: url)
            files.append(url.path)
            var hasher = SHA256()
            var offset = 0
            data.withUnsafeBytes { all in
                while offset < all.count {
                    let n = min(Int(random.next64() % 200) + 1, all.count - offset)
                    hasher.update(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                    offset += n
                }
            }
            ours.append(hasher.finalize().description)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum"] + files
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let theirs = output.split(separator: "\n").map { String($0.prefix(64)) }
        #expect(theirs == ours)
    }
}
