#![no_main]
//! Fuzz target `unpack_authenticated`: see mtproto_tests::fuzzing::unpack_authenticated.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::unpack_authenticated(data));
