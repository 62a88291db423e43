import FuzzSupport

// Entry point: `FUZZ_WRITE_SEEDS=<dir>` writes the seed corpus, anything else runs libFuzzer.
fuzzMain(testOneInput, seeds: seeds, harness: icmp)
