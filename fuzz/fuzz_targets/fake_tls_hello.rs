#![no_main]
//! Fuzz target `fake_tls_hello`: see mtproto_tests::fuzzing::fake_tls_hello.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::fake_tls_hello(data));
