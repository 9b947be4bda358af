#![no_main]
//! Fuzz target `fake_tls_records`: see mtproto_tests::fuzzing::fake_tls_records.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::fake_tls_records(data));
