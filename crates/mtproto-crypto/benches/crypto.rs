//! Message protection beside the floor (one SHA-256 pass + one AES-256-IGE
//! pass built from the `aes` and `sha2` crates directly), plus the handshake's
//! expensive pieces. Run: `cargo bench -p mtproto-crypto --bench crypto`.
#![allow(missing_docs, clippy::unwrap_used)]

use aes::Aes256;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mtproto_crypto::rsa::{self, RsaPrivateKey};
use mtproto_crypto::{AuthKey, Direction, SeededEntropy, dh, envelope, pq};
use sha2::{Digest, Sha256};
use std::hint::black_box;

/// The floor: SHA-256 over the bytes, then AES-256-IGE over the same bytes,
/// with the `aes` crate's one-block calls.
fn floor(key: &Aes256, data: &mut [u8]) -> [u8; 32] {
    let digest: [u8; 32] = Sha256::digest(&*data).into();
    let mut prev_c = [0u8; 16];
    let mut prev_p = [0u8; 16];
    for chunk in data.chunks_exact_mut(16) {
        let mut p = [0u8; 16];
        p.copy_from_slice(chunk);
        let mut x = [0u8; 16];
        for i in 0..16 {
            x[i] = p[i] ^ prev_c[i];
        }
        let mut block = Array::from(x);
        key.encrypt_block(&mut block);
        for i in 0..16 {
            chunk[i] = block[i] ^ prev_p[i];
        }
        prev_c.copy_from_slice(chunk);
        prev_p = p;
    }
    digest
}

fn messages(c: &mut Criterion) {
    let key = AuthKey::from_bytes([0x42; 256]);
    let aes = Aes256::new(&Array::from([7u8; 32]));
    for size in [64usize, 1 << 10, 16 << 10, 256 << 10, 1 << 20] {
        let mut g = c.benchmark_group(format!("message/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5a_u8; envelope::HEADER_LEN + size];
        g.bench_function(BenchmarkId::new("floor_sha256_plus_aes_ige", size), |b| {
            b.iter(|| black_box(floor(&aes, &mut buf[envelope::HEADER_LEN..])))
        });
        g.bench_function(BenchmarkId::new("encrypt", size), |b| {
            b.iter(|| envelope::encrypt_in_place(&key, Direction::ClientToServer, black_box(&mut buf)).unwrap())
        });
        let mut sealed = vec![0x5a_u8; envelope::HEADER_LEN + size.max(envelope::MIN_PLAINTEXT_LEN)];
        envelope::encrypt_in_place(&key, Direction::ServerToClient, &mut sealed).unwrap();
        let mut work = sealed.clone();
        g.bench_function(BenchmarkId::new("decrypt", size), |b| {
            b.iter(|| {
                work.copy_from_slice(&sealed);
                envelope::decrypt_in_place(&key, Direction::ServerToClient, black_box(&mut work)).unwrap().len()
            })
        });
        g.finish();
    }
}

fn handshake_pieces(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    // A 63-bit pq of two 31/32-bit primes, as Telegram sends.
    g.bench_function("pq_factorize_63bit", |b| b.iter(|| pq::factorize(black_box(0x7b5f_1a2b_9e0f_3c77 | 1))));
    g.bench_function("pq_factorize_doc_sample", |b| b.iter(|| pq::factorize(black_box(2694724800268887959))));
    let key = RsaPrivateKey::generate(&mut SeededEntropy::new(1)).unwrap();
    let mut e = SeededEntropy::new(2);
    g.bench_function("rsa_pad_encrypt", |b| {
        b.iter(|| rsa::rsa_pad_encrypt(key.public_key(), black_box(&[1u8; 96]), &mut e).unwrap())
    });
    let group = dh::DhGroup::new(&dh::TELEGRAM_DH_PRIME, 3, &mut dh::PrimeCache::default()).unwrap();
    let exp = [0x77u8; 256];
    let base = group.pow_g(&[0x12; 256]);
    g.bench_function("modexp_2048", |b| b.iter(|| group.pow(black_box(&base), black_box(&exp))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = messages, handshake_pieces
}
criterion_main!(benches);
