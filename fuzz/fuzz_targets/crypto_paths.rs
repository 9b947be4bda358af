#![no_main]
//! Fuzz target `crypto_paths`: see mtproto_tests::fuzzing::crypto_paths.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::crypto_paths(data));
