#![no_main]
//! Fuzz target `transport_decode`: see mtproto_tests::fuzzing::transport_decode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::transport_decode(data));
