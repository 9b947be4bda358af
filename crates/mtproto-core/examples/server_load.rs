//! Load on the test server (`examples/server.rs`): starts it as a child
//! process, opens many concurrent loopback connections to it (a measured
//! number with a handshake, the rest resuming one of those keys), keeps them
//! all open, then has every one send echo requests and pings at once.
//! Reports handshakes per second, resumed connections per second, requests
//! per second and the server's resident memory per connection (VmRSS from
//! /proc/PID/status before and with all connections open).
//!
//! ```text
//! cargo build --release -p mtproto-core --example server --example server_load
//! bash scripts/server-load.sh            # raises the fd limit, then runs it
//! ```
//!
//! Each connection needs a file descriptor in this process and one in the
//! server: the soft limit (`ulimit -n`) must exceed the connection count.
#![allow(missing_docs)]

#[path = "common/tokio_driver.rs"]
mod tokio_driver;

use mtproto_core::ClientEvent;
use mtproto_core::connection::{ClientConnection, ClientOptions};
use mtproto_core::connection::{Persisted, SendOptions};
use mtproto_core::handshake::ClientConfig;
use mtproto_crypto::rsa::RsaPublicKey;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_driver::{Ended, Flow, Limits, drive, now};

const USAGE: &str = "\
usage: server_load [--connections N] [--handshakes N] [--requests N] [--pings N]
                   [--server PATH] [--connect-parallel N]

  --connections N       concurrent connections in all (default 10000)
  --handshakes N        of which this many run a handshake (default 500); the
                        others resume one of their keys
  --requests N          echo requests per connection in the burst (default 4)
  --pings N             pings per connection in the burst (default 2)
  --server PATH         the server example (default: next to this binary)
  --connect-parallel N  connection set-ups in flight at once (default 256)";

#[derive(Debug, Clone)]
struct Args {
    connections: usize,
    handshakes: usize,
    requests: usize,
    pings: usize,
    server: Option<PathBuf>,
    connect_parallel: usize,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a =
        Args { connections: 10_000, handshakes: 500, requests: 4, pings: 2, server: None, connect_parallel: 256 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value (see --help)"))?;
        let num = || value.parse::<usize>().map_err(|_| format!("{flag}: not a number: {value:?}"));
        match flag.as_str() {
            "--connections" => a.connections = num()?,
            "--handshakes" => a.handshakes = num()?,
            "--requests" => a.requests = num()?,
            "--pings" => a.pings = num()?,
            "--connect-parallel" => a.connect_parallel = num()?.max(1),
            "--server" => a.server = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag:?} (see --help)")),
        }
    }
    if a.handshakes == 0 || a.handshakes > a.connections {
        return Err("--handshakes must be between 1 and --connections".into());
    }
    Ok(Some(a))
}

/// The server child; killed when dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time a process has used so far, all its threads (the first field of
/// each /proc/PID/task/TID/schedstat, in nanoseconds).
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let dir = format!("/proc/{pid}/task");
    let mut ns = 0u64;
    for task in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let path = task.map_err(|e| e.to_string())?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(&path) else { continue };
        ns += stat.split(' ').next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(Duration::from_nanos(ns))
}

fn start_server(args: &Args) -> Result<(ServerProcess, SocketAddr, RsaPublicKey), String> {
    let path = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("server"),
    };
    let public = std::env::temp_dir().join(format!("server_load_{}.pem", std::process::id()));
    let mut child = Command::new(&path)
        .args(["--listen", "127.0.0.1:0", "--run-seconds", "900", "--public-key-out"])
        .arg(&public)
        .args(["--max-connections", &(args.connections + 16).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("{}: {e} (build it: cargo build --release -p mtproto-core --example server)", path.display())
        })?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = ServerProcess(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let addr = line
        .strip_prefix("READY ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("the server did not start: {line:?}"))?;
    let pem = std::fs::read_to_string(&public).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&public);
    let key = RsaPublicKey::from_pem(&pem).map_err(|e| e.to_string())?;
    Ok((server, addr, key))
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut backoff = Duration::from_millis(10);
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if backoff > Duration::from_secs(2) => return Err(e),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

/// Counters shared by all client tasks.
#[derive(Default)]
struct Progress {
    up: AtomicU64,
    burst_done: AtomicU64,
    failed: AtomicU64,
    answered: AtomicU64,
    pongs: AtomicU64,
}

/// Drives until `pings` pongs (and `bodies` echoes) came back.
async fn exchange(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    requests: usize,
    pings: usize,
    progress: &Progress,
) -> Result<(), String> {
    let (mut answered, mut pongs) = (0, 0);
    if conn.is_ready() {
        for i in 0..requests {
            conn.send(((0x4000_0000 | i) as u32).to_le_bytes().repeat(8), SendOptions::default());
        }
        if pings > 0 {
            conn.ping(now());
        }
    }
    let ended = drive(
        conn,
        stream,
        Limits { read_buf: 4096, ..Limits::default() },
        |conn, ev| {
            match ev {
                ClientEvent::RpcResult { .. } => answered += 1,
                ClientEvent::Pong { .. } => {
                    pongs += 1;
                    if pongs < pings {
                        conn.ping(now());
                    }
                }
                _ => {}
            }
            if answered >= requests && pongs >= pings { Flow::Stop } else { Flow::Continue }
        },
        |_| {},
    )
    .await;
    progress.answered.fetch_add(answered as u64, Ordering::Relaxed);
    progress.pongs.fetch_add(pongs as u64, Ordering::Relaxed);
    match ended {
        Ended::Stopped => Ok(()),
        Ended::LinkLost => Err("link lost".into()),
        Ended::Closed(r) => Err(r.to_string()),
    }
}

/// One client connection: set up (handshake, or a resumed key and a ping),
/// wait for the burst, run it, wait for the end.
#[allow(clippy::too_many_arguments)]
async fn client(
    addr: SocketAddr,
    config: ClientOptions,
    args: Arc<Args>,
    setup: Arc<Semaphore>,
    progress: Arc<Progress>,
    keys: Option<mpsc::Sender<Persisted>>,
    mut go: watch::Receiver<u8>,
) -> Result<(), String> {
    let (mut conn, mut stream) = {
        let _slot = setup.acquire().await.map_err(|e| e.to_string())?;
        let mut stream = connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let mut conn = ClientConnection::new(config, now()).map_err(|e| e.to_string())?;
        if conn.is_ready() {
            exchange(&mut conn, &mut stream, 0, 1, &progress).await?;
        } else {
            let ended = drive(
                &mut conn,
                &mut stream,
                Limits { read_buf: 4096, ..Limits::default() },
                |_, ev| if matches!(ev, ClientEvent::Ready { .. }) { Flow::Stop } else { Flow::Continue },
                |_| {},
            )
            .await;
            if !matches!(ended, Ended::Stopped) {
                return Err(format!("handshake: {ended:?}"));
            }
        }
        (conn, stream)
    };
    if let (Some(keys), Some(mut p)) = (keys, conn.persisted()) {
        // Every resumed connection is a client of its own: it shares the
        // key but starts its own session (two clients continuing one
        // session would collide in msg_ids).
        p.session = None;
        keys.send(p).await.map_err(|e| e.to_string())?;
    }
    progress.up.fetch_add(1, Ordering::Relaxed);
    go.wait_for(|phase| *phase >= 1).await.map_err(|e| e.to_string())?;
    exchange(&mut conn, &mut stream, args.requests, args.pings, &progress).await?;
    progress.burst_done.fetch_add(1, Ordering::Relaxed);
    go.wait_for(|phase| *phase >= 2).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn wait_until(
    what: &str,
    progress: &Progress,
    target: u64,
    counter: impl Fn(&Progress) -> u64,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while counter(progress) + progress.failed.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return Err(format!("{what}: {} of {target} after 600 s", counter(progress)));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match progress.failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{what}: {n} connections failed")),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (server, addr, public) = start_server(&args)?;
    let pid = server.0.id();
    let rss_before = rss_kib(pid)?;
    let args = Arc::new(args);
    let progress = Arc::new(Progress::default());
    let setup = Arc::new(Semaphore::new(args.connect_parallel));
    let (go_tx, go) = watch::channel(0u8);
    let spawn = |config: ClientOptions, keys: Option<mpsc::Sender<Persisted>>| {
        let (args, setup, progress, go) = (Arc::clone(&args), Arc::clone(&setup), Arc::clone(&progress), go.clone());
        tokio::spawn(async move {
            let progress2 = Arc::clone(&progress);
            if let Err(e) = client(addr, config, args, setup, progress, keys, go).await
                && progress2.failed.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("connection failed: {e}");
            }
        })
    };

    // Handshakes, all started at once (the set-up limit applies).
    let (keys_tx, mut keys_rx) = mpsc::channel(args.handshakes);
    let t = Instant::now();
    let cpu0 = cpu_time(pid)?;
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.handshakes {
        let config = ClientOptions::new(ClientConfig::new(vec![public.clone()], 2));
        tasks.push(spawn(config, Some(keys_tx.clone())));
    }
    drop(keys_tx);
    wait_until("handshakes", &progress, args.handshakes as u64, |p| p.up.load(Ordering::Relaxed)).await?;
    let handshake_secs = t.elapsed().as_secs_f64();
    let handshake_cpu = cpu_time(pid)?.saturating_sub(cpu0).as_secs_f64();
    let mut keys = Vec::with_capacity(args.handshakes);
    while let Some(k) = keys_rx.recv().await {
        keys.push(k);
    }

    // The rest resume those keys: no handshake, one ping each.
    let resumed = args.connections - args.handshakes;
    let t = Instant::now();
    let cpu0 = cpu_time(pid)?;
    for i in 0..resumed {
        let config = ClientOptions::resume(keys[i % keys.len()].clone());
        tasks.push(spawn(config, None));
    }
    wait_until("resumed connections", &progress, args.connections as u64, |p| p.up.load(Ordering::Relaxed)).await?;
    let resume_secs = t.elapsed().as_secs_f64();
    let resume_cpu = cpu_time(pid)?.saturating_sub(cpu0).as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = rss_kib(pid)?;

    // Every connection at once: echo requests and pings.
    let (answered0, pongs0) = (progress.answered.load(Ordering::Relaxed), progress.pongs.load(Ordering::Relaxed));
    let t = Instant::now();
    let cpu0 = cpu_time(pid)?;
    go_tx.send(1).map_err(|e| e.to_string())?;
    wait_until("burst", &progress, args.connections as u64, |p| p.burst_done.load(Ordering::Relaxed)).await?;
    let burst_secs = t.elapsed().as_secs_f64();
    let burst_cpu = cpu_time(pid)?.saturating_sub(cpu0).as_secs_f64();
    let answered = progress.answered.load(Ordering::Relaxed) - answered0;
    let pongs = progress.pongs.load(Ordering::Relaxed) - pongs0;
    let rss_burst = rss_kib(pid)?;
    go_tx.send(2).map_err(|e| e.to_string())?;
    for t in tasks {
        let _ = t.await;
    }

    let n = args.connections as f64;
    let (h, r, rpcs) = (args.handshakes as f64, resumed as f64, (answered + pongs) as f64);
    println!(
        "server_load: {} concurrent connections to {addr} (client and server on the same machine)",
        args.connections
    );
    println!(
        "  handshakes:     {} in {handshake_secs:.2} s = {:.0}/s wall; server CPU {:.2} ms each = {:.0}/s per core",
        args.handshakes,
        h / handshake_secs,
        1e3 * handshake_cpu / h,
        h / handshake_cpu
    );
    println!(
        "  resumed keys:   {resumed} in {resume_secs:.2} s = {:.0}/s wall (connect + 1 ping each); server CPU {:.0} us each",
        r / resume_secs.max(1e-9),
        1e6 * resume_cpu / r.max(1.0)
    );
    println!(
        "  burst:          {answered} echo requests + {pongs} pings in {burst_secs:.2} s = {:.0} requests/s wall; \
         server CPU {:.1} us each = {:.0}/s per core",
        rpcs / burst_secs,
        1e6 * burst_cpu / rpcs.max(1.0),
        rpcs / burst_cpu.max(1e-9)
    );
    println!("  server VmRSS:   {rss_before} KiB idle, {rss_open} KiB with all open, {rss_burst} KiB after the burst");
    println!(
        "  per connection: {:.1} KiB open, {:.1} KiB after the burst",
        (rss_open.saturating_sub(rss_before)) as f64 / n,
        (rss_burst.saturating_sub(rss_before)) as f64 / n
    );
    drop(server);
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("server_load: {e}");
            std::process::exit(2);
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run(args)));
    if let Err(e) = result {
        eprintln!("server_load: {e}");
        std::process::exit(1);
    }
}
