#![no_main]
//! Fuzz target `tl_decode`: see mtproto_tests::fuzzing::tl_decode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::tl_decode(data));
