#![no_main]
//! Fuzz target `unpack_raw`: see mtproto_tests::fuzzing::unpack_raw.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::unpack_raw(data));
