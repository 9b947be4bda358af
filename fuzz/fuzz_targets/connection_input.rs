#![no_main]
//! Fuzz target `connection_input`: see mtproto_tests::fuzzing::connection_input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::connection_input(data));
