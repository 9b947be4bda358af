//! Telethon (pinned in tests/interop/requirements.txt, installed into
//! target/interop-venv by scripts/setup-interop.sh) as a real client against
//! our server over loopback TCP: handshake, concurrent pings, reconnect with the
//! saved key, for its full, intermediate, abridged and obfuscated transports.
//! Fails when Telethon cannot complete; set MTPROTO_SKIP_INTEROP=1 to skip.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use mtproto_tests::server_rsa_key;

use std::path::PathBuf;
use std::process::Command;

fn start_server() -> std::net::SocketAddr {
    common::start(1000, |_| {}).addr
}

#[test]
fn telethon_handshake_pings_and_reconnect_on_every_transport() {
    let Some(python) = common::interop_python() else { return };
    let root = common::workspace_root();
    let pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop_server_key.pem");
    std::fs::write(&pem, server_rsa_key().public_key().to_pem().unwrap()).unwrap();
    let addr = start_server();
    for mode in ["full", "intermediate", "abridged", "obfuscated"] {
        let out = Command::new(&python)
            .arg(root.join("tests/interop/telethon_client.py"))
            .args([&addr.ip().to_string(), &addr.port().to_string()])
            .arg(&pem)
            .arg(mode)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(&format!("OK {mode}")),
            "Telethon {mode} failed:\n{stdout}\n{stderr}"
        );
        println!("{}", stdout.trim());
    }
}

/// Telethon's own reconnect against a server with a session store (#12):
/// the server drops the TCP connection once; Telethon reconnects by itself
/// and its pings go on. Telethon starts a new session on every reconnect
/// (`MTProtoState.reset()` in `_reconnect`), so one new_session_created per
/// link is expected, but it keeps its salt, and the salt schedule belongs to
/// the key: the server sends bad_server_salt only once, on the first link.
#[test]
fn telethon_reconnects_without_a_second_bad_server_salt() {
    let Some(python) = common::interop_python() else { return };
    let root = common::workspace_root();
    let pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop_cut_key.pem");
    std::fs::write(&pem, server_rsa_key().public_key().to_pem().unwrap()).unwrap();
    let options = common::Options { session_store: true, cut_once_after: Some(std::time::Duration::from_secs(1)) };
    let server = common::start_with(100, |_| {}, options);
    let out = Command::new(&python)
        .arg(root.join("tests/interop/telethon_client.py"))
        .args([&server.addr.ip().to_string(), &server.addr.port().to_string()])
        .arg(&pem)
        .args(["intermediate", "cut"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("OK intermediate cut"), "Telethon failed:\n{stdout}\n{stderr}");
    // Let the server threads finish their links.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.active.load(std::sync::atomic::Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(server.cuts.load(SeqCst), 1, "the server cut the link once");
    assert_eq!(server.bad_salts.load(SeqCst), 1, "bad_server_salt only on the first link");
    assert_eq!(server.new_sessions.load(SeqCst), 2, "Telethon's new session per link");
    println!("{}", stdout.trim());
}

/// The probe example (meant for real DCs) against our server over loopback,
/// for each transport: handshake with a given PEM key, pings, a report.
#[test]
fn probe_example_against_our_server() {
    let probe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../debug/examples/probe");
    assert!(probe.exists(), "build the examples first (cargo test does): {probe:?}");
    let pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("probe_server_key.pem");
    std::fs::write(&pem, server_rsa_key().public_key().to_pem().unwrap()).unwrap();
    let addr = start_server();
    for transport in ["abridged", "intermediate", "padded", "full", "obfuscated"] {
        let out = Command::new(&probe)
            .arg(addr.to_string())
            .args(["--transport", transport, "--key"])
            .arg(&pem)
            .args(["--pings", "3"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe {transport}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("auth_key_id:") && stdout.contains("ping 2:"), "probe {transport}: {stdout}");
    }
}

/// The probe with an `ee` secret against our server serving fake-TLS for
/// that secret over loopback TCP: handshake and pings through fake-TLS.
#[test]
fn probe_example_through_fake_tls() {
    use mtproto_core::connection::Transporting;
    use mtproto_core::transport::ProxySecret;
    use mtproto_core::transport::fake_tls::FakeTlsConfig;
    const SECRET: &str = "ee0123456789abcdef0123456789abcdef7777772e6578616d706c652e636f6d"; // www.example.com
    fn fake_tls(cfg: &mut mtproto_core::ServerOptions) {
        // One configuration (and so one replay cache) for every connection.
        static FAKE: std::sync::OnceLock<FakeTlsConfig> = std::sync::OnceLock::new();
        let fake = FAKE.get_or_init(|| {
            let mut f = FakeTlsConfig::from_secret(&ProxySecret::parse(SECRET).unwrap(), 2).unwrap();
            // Only fake-TLS: a probe that ignored the secret would be refused.
            f.secret_only = true;
            f
        });
        cfg.session.transport = Transporting::FakeTls(fake.clone());
    }
    let probe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../debug/examples/probe");
    assert!(probe.exists(), "build the examples first (cargo test does): {probe:?}");
    let pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("probe_fake_tls_key.pem");
    std::fs::write(&pem, server_rsa_key().public_key().to_pem().unwrap()).unwrap();
    let addr = common::start(100, fake_tls).addr;
    for secret in [SECRET.to_string(), base64_url(SECRET)] {
        let out = Command::new(&probe)
            .arg(addr.to_string())
            .args(["--secret", &secret, "--key"])
            .arg(&pem)
            .args(["--pings", "2"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("auth_key_id:") && stdout.contains("ping 1:"), "probe: {stdout}");
    }
    // A wrong key in the secret: the server never answers, the probe fails in one line.
    let wrong = SECRET.replacen("0123", "3210", 1);
    let out =
        Command::new(&probe).arg(addr.to_string()).args(["--secret", &wrong, "--key"]).arg(&pem).output().unwrap();
    assert!(!out.status.success() && out.status.code() != Some(101));
}

/// Hex to unpadded base64url (the secret forms TDLib accepts).
fn base64_url(hex: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The probe's failures are one line and a non-zero exit, never a panic:
/// nothing listening, and secrets it cannot serve (#13).
#[test]
fn probe_fails_with_one_line() {
    let probe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../debug/examples/probe");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let fake_tls =
        format!("ee{}{}", "11".repeat(16), "example.com".bytes().map(|b| format!("{b:02x}")).collect::<String>());
    for args in [
        vec![closed.to_string()],
        vec![closed.to_string(), "--secret".into(), fake_tls],
        vec![closed.to_string(), "--secret".into(), "not a secret".into()],
    ] {
        let out = Command::new(&probe).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.status.code() != Some(101), "{args:?}: {:?}", out.status);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
