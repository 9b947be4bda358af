#![no_main]
//! Fuzz target `modexp`: see mtproto_tests::fuzzing::modexp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::modexp(data));
