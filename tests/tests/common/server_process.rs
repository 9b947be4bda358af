//! The test server example (`crates/mtproto-core/examples/server.rs`) as a
//! child process, for the tests that drive it over TCP.

use mtproto_tests::server_rsa_key;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A built example (cargo test builds the examples).
pub fn example(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../debug/examples").join(name);
    assert!(path.exists(), "build the examples first (cargo test does): {path:?}");
    path
}

/// The server process; killed when dropped (and it exits by itself after
/// `--run-seconds` anyway).
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves HTTP (`--http-listen`), from the READY-HTTP line.
    pub http_addr: Option<SocketAddr>,
    /// Where it serves WebSocket (`--ws-listen`), from the READY-WS line.
    pub ws_addr: Option<SocketAddr>,
    /// The fingerprint of its RSA key, from the READY line.
    pub fingerprint: u64,
    /// Its PKCS#1 public key PEM file.
    pub public_pem: PathBuf,
    /// Its stderr, line by line.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts it with `server_rsa_key()` and `extra` flags; reads the READY
    /// line, then READY-HTTP and READY-WS when `extra` asks for those listeners.
    pub fn start(extra: &[&str]) -> Self {
        // Files of their own: tests in one binary start servers in parallel.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("test_server_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let pem = dir.join(format!("{name}.key.pem"));
        std::fs::write(&pem, server_rsa_key().to_pem().unwrap().as_bytes()).unwrap();
        let public_pem = dir.join(format!("{name}.pub.pem"));
        std::fs::write(&public_pem, server_rsa_key().public_key().to_pem().unwrap()).unwrap();
        let mut child = Command::new(example("server"))
            .args(["--listen", "127.0.0.1:0", "--run-seconds", "300", "--key"])
            .arg(&pem)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        // Exactly: READY 127.0.0.1:PORT fingerprint=0x<16 hex digits>
        let fields: Vec<&str> = ready.trim_end().split(' ').collect();
        assert_eq!(fields.len(), 3, "{ready:?}");
        assert_eq!(fields[0], "READY", "{ready:?}");
        let addr: SocketAddr = fields[1].parse().unwrap();
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        assert_ne!(addr.port(), 0, "the bound port, not 0");
        let hex = fields[2].strip_prefix("fingerprint=0x").unwrap();
        assert_eq!(hex.len(), 16, "{ready:?}");
        let fingerprint = u64::from_str_radix(hex, 16).unwrap();
        // Exactly: READY-HTTP 127.0.0.1:PORT, then READY-WS 127.0.0.1:PORT.
        let mut other = |flag: &str, word: &str| -> Option<SocketAddr> {
            if !extra.contains(&flag) {
                return None;
            }
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let (got, addr) = line.trim_end().split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!(got, word, "{line:?}");
            let addr: SocketAddr = addr.parse().unwrap();
            assert_ne!(addr.port(), 0, "the bound port, not 0");
            Some(addr)
        };
        let http_addr = other("--http-listen", "READY-HTTP");
        let ws_addr = other("--ws-listen", "READY-WS");
        let server = Self { child, addr, http_addr, ws_addr, fingerprint, public_pem, log };
        // Nothing more on stdout: the rest of the output is the log.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            assert!(rest.is_empty(), "more than the READY line on stdout: {rest:?}");
        });
        server
    }

    /// The log line of the connection from `peer`, once it has ended.
    pub fn line_for(&self, peer: SocketAddr) -> String {
        let prefix = format!("conn {peer} ");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.starts_with(&prefix)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line for {peer}: {:?}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
