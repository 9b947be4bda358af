//! pyrofork, a Pyrogram fork (pinned in tests/interop/requirements.txt,
//! installed into target/interop-venv by scripts/setup-interop.sh), as a real
//! client against the test server example over loopback TCP, on each of its
//! five TCP transports: its own handshake (`Auth.create`), `Session.start`,
//! pings, an echoed request, and a second session on the saved key. What the
//! script drives exactly is in tests/interop/pyrofork_client.py. Fails when
//! pyrofork cannot complete; set MTPROTO_SKIP_INTEROP=1 to skip.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::server_process::Server;
use std::process::Command;

#[test]
fn pyrofork_handshake_session_start_and_pings_on_every_transport() {
    let Some(python) = common::interop_python() else { return };
    let server = Server::start(&[]);
    let script = common::workspace_root().join("tests/interop/pyrofork_client.py");
    for mode in ["abridged", "intermediate", "full", "abridged-obfuscated", "intermediate-obfuscated"] {
        let out = Command::new(&python)
            .arg(&script)
            .args([server.addr.ip().to_string(), server.addr.port().to_string()])
            .arg(&server.public_pem)
            .arg(format!("{:016x}", server.fingerprint))
            .arg(mode)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(&format!("OK {mode}:")),
            "pyrofork {mode} failed:\n{stdout}\n{stderr}\nserver log:\n{}",
            server.log.lock().unwrap().join("\n")
        );
        println!("{}", stdout.trim());
    }
    // Each mode: one handshake connection, then two sessions on its key
    // (the server logs a connection once it has seen it end).
    let count = |what: &str| server.log.lock().unwrap().iter().filter(|l| l.contains(what)).count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count("key=\"known\"") < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.log.lock().unwrap().join("\n");
    assert_eq!(count("key=\"new (handshake)\""), 5, "{log}");
    assert_eq!(count("key=\"known\""), 10, "{log}");
}
