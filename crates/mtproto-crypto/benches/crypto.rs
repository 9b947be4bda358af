//! Message protection beside the floor (one SHA-256 pass + one AES-256-IGE
//! pass built from the `aes` and `sha2` crates directly), plus the handshake's
//! expensive pieces. Run: `cargo bench -p mtproto-crypto --bench crypto`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mtproto_crypto::floor::Floor;
use mtproto_crypto::rsa::{self, RsaPrivateKey};
use mtproto_crypto::{AuthKey, Direction, SeededEntropy, dh, envelope, ige, pq};
use std::hint::black_box;

fn messages(c: &mut Criterion) {
    let key = AuthKey::from_bytes([0x42; 256]);
    let floor = Floor::default();
    for size in [64usize, 1 << 10, 16 << 10, 256 << 10, 1 << 20] {
        let mut g = c.benchmark_group(format!("message/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5a_u8; envelope::HEADER_LEN + size];
        g.bench_function(BenchmarkId::new("floor_sha256_plus_aes_ige", size), |b| {
            b.iter(|| floor.run(&mut buf[envelope::HEADER_LEN..]))
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
        let mut work2 = sealed.clone();
        g.bench_function(BenchmarkId::new("decrypt_unfused", size), |b| {
            b.iter(|| {
                work2.copy_from_slice(&sealed);
                envelope::decrypt_in_place_unfused(&key, Direction::ServerToClient, black_box(&mut work2))
                    .unwrap()
                    .len()
            })
        });
        g.finish();
    }
}

/// IGE alone (the AES-NI loop and the portable loop, both with a key schedule
/// per call), beside the floor.
fn ige_only(c: &mut Criterion) {
    let mut buf = vec![0x33u8; 16 * 1024];
    let mut g = c.benchmark_group("ige_16KiB");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("aes_ni_loop", |b| b.iter(|| ige::encrypt(&[7; 32], &[9; 32], black_box(&mut buf)).unwrap()));
    g.bench_function("portable", |b| {
        b.iter(|| ige::encrypt_portable(&[7; 32], &[9; 32], black_box(&mut buf)).unwrap())
    });
    let floor = Floor::default();
    g.bench_function("floor_sha256_plus_prekeyed_aes_crate_ige", |b| b.iter(|| floor.run(black_box(&mut buf))));
    g.bench_function("floor_keyed_per_call", |b| b.iter(|| Floor::run_keyed(&[7; 32], black_box(&mut buf))));
    g.finish();
}

/// Several independent messages encrypted in one call (multi-buffer) against
/// one after another and against the floor for the same bytes.
fn multi_buffer(c: &mut Criterion) {
    let keys: Vec<AuthKey> = (0..4u8).map(|i| AuthKey::from_bytes([0x42 ^ i; 256])).collect();
    let floor = Floor::default();
    for (count, size) in [(2usize, 16 << 10), (2, 1 << 20), (4, 16 << 10)] {
        let mut g = c.benchmark_group(format!("encrypt_{count}x{size}"));
        g.throughput(Throughput::Bytes((count * size) as u64));
        let mut bufs: Vec<Vec<u8>> = (0..count).map(|_| vec![0x5a_u8; envelope::HEADER_LEN + size]).collect();
        g.bench_function("floor", |b| {
            b.iter(|| {
                for buf in bufs.iter_mut() {
                    floor.run(&mut buf[envelope::HEADER_LEN..]);
                }
            })
        });
        g.bench_function("one_by_one", |b| {
            b.iter(|| {
                for (buf, key) in bufs.iter_mut().zip(&keys) {
                    envelope::encrypt_in_place(key, Direction::ClientToServer, buf).unwrap();
                }
            })
        });
        g.bench_function("encrypt_many", |b| {
            b.iter(|| {
                let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> = bufs
                    .iter_mut()
                    .zip(&keys)
                    .map(|(buf, key)| (key, Direction::ClientToServer, &mut buf[..]))
                    .collect();
                envelope::encrypt_many(&mut jobs).unwrap();
            })
        });
        let sealed: Vec<Vec<u8>> = bufs
            .iter()
            .zip(&keys)
            .map(|(buf, key)| {
                let mut v = buf.clone();
                envelope::encrypt_in_place(key, Direction::ServerToClient, &mut v).unwrap();
                v
            })
            .collect();
        let mut work = sealed.clone();
        g.bench_function("decrypt_one_by_one", |b| {
            b.iter(|| {
                for ((w, s), key) in work.iter_mut().zip(&sealed).zip(&keys) {
                    w.copy_from_slice(s);
                    envelope::decrypt_in_place(key, Direction::ServerToClient, w).unwrap();
                }
            })
        });
        g.bench_function("decrypt_many", |b| {
            b.iter(|| {
                for (w, s) in work.iter_mut().zip(&sealed) {
                    w.copy_from_slice(s);
                }
                let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
                    work.iter_mut().zip(&keys).map(|(w, key)| (key, Direction::ServerToClient, &mut w[..])).collect();
                assert!(envelope::decrypt_many(&mut jobs).iter().all(Result::is_ok));
            })
        });
        g.finish();
    }
}

/// Products of a 31-bit and a 32-bit prime from a fixed xorshift sequence.
fn random_pqs(count: usize) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut prime = |bits: u32| loop {
        let candidate = (next() >> (64 - bits)) | (1 << (bits - 1)) | 1;
        if pq::is_prime_u64(candidate) {
            return candidate;
        }
    };
    (0..count).map(|_| prime(31) * prime(32)).collect()
}

fn handshake_pieces(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    // A 63-bit pq: (2^31 - 1) * (2^32 - 5), the largest balanced case.
    g.bench_function("pq_factorize_63bit", |b| b.iter(|| pq::factorize(black_box(2_147_483_647 * 4_294_967_291))));
    g.bench_function("pq_factorize_doc_sample", |b| b.iter(|| pq::factorize(black_box(2694724800268887959))));
    // 64 products of a random 31-bit and a random 32-bit prime: the time is
    // per batch, so divide by 64 for the average per pq.
    let batch = random_pqs(64);
    g.bench_function("pq_factorize_64_random_63bit", |b| {
        b.iter(|| batch.iter().map(|&n| pq::factorize(black_box(n)).unwrap().0).sum::<u64>())
    });
    g.bench_function("pq_factorize_64_random_63bit_rho_only", |b| {
        b.iter(|| batch.iter().map(|&n| pq::factorize_rho(black_box(n)).unwrap().0).sum::<u64>())
    });
    let key = RsaPrivateKey::generate(&mut SeededEntropy::new(1)).unwrap();
    let mut e = SeededEntropy::new(2);
    g.bench_function("rsa_pad_encrypt", |b| {
        b.iter(|| rsa::rsa_pad_encrypt(key.public_key(), black_box(&[1u8; 96]), &mut e).unwrap())
    });
    let group = dh::DhGroup::new(&dh::TELEGRAM_DH_PRIME, 3, &mut dh::PrimeCache::default()).unwrap();
    // A random-looking exponent (num-bigint's time depends on its bits).
    let exp = group.pow_g(&[0x34; 256]);
    let base = group.pow_g(&[0x12; 256]);
    g.bench_function("modexp_2048", |b| b.iter(|| group.pow(black_box(&base), black_box(&exp))));
    g.bench_function("modexp_2048_crypto_bigint", |b| b.iter(|| group.pow_portable(black_box(&base), black_box(&exp))));
    let (nb_base, nb_exp, nb_p) = (
        num_bigint::BigUint::from_bytes_be(&base),
        num_bigint::BigUint::from_bytes_be(&exp),
        num_bigint::BigUint::from_bytes_be(&dh::TELEGRAM_DH_PRIME),
    );
    assert_eq!(nb_base.modpow(&nb_exp, &nb_p).to_bytes_be(), dh::trim(&group.pow(&base, &exp)));
    g.bench_function("modexp_2048_num_bigint", |b| b.iter(|| black_box(&nb_base).modpow(black_box(&nb_exp), &nb_p)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = messages, ige_only, multi_buffer, handshake_pieces
}
criterion_main!(benches);
