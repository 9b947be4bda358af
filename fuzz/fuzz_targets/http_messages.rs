#![no_main]
//! Fuzz target `http_messages`: see mtproto_tests::fuzzing::http_messages.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::http_messages(data));
