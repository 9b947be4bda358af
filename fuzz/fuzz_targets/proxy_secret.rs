#![no_main]
//! Fuzz target `proxy_secret`: see mtproto_tests::fuzzing::proxy_secret.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mtproto_tests::fuzzing::proxy_secret(data));
