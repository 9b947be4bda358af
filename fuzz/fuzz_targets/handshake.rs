#![no_main]
//! Fuzz target `handshake`: see mtproto_tests::fuzzing::handshake.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::handshake(data));
