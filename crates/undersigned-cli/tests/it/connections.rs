//! The listeners of `witness serve` and `serve --dev` as real processes, under 20,000 idle TCP
//! connections from this test (or as many as its open-file limit allows): a fresh request is
//! still answered correctly at once, and the idle connections are closed after the idle
//! timeout (set short here). Before, every connection stayed open until the witness ran out
//! of file descriptors and refused new ones.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use undersigned_core::log::add_cosignatures;
use undersigned_core::log::{AddCheckpoint, Checkpoint, LogSigner, MerkleLog, WitnessVerifier};
use undersigned_server::listen::{HEADER_TIMEOUT_ENV, IDLE_TIMEOUT_ENV};

/// How many idle connections the test tries to hold.
const WANTED: u64 = 20_000;
/// Descriptors left to the other tests running in this process meanwhile.
const SPARE_FDS: u64 = 1_000;
/// The idle timeout both servers get here.
const IDLE_SECS: u64 = 8;

/// Raises this process's soft open-file limit as far as the hard one, and returns it.
fn raise_own_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `undersigned ARGS` with short timeouts and reads its address from the first line of
/// its standard output that names one.
fn start(args: &[&str]) -> (Proc, SocketAddr) {
    let child = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(args)
        .env(IDLE_TIMEOUT_ENV, IDLE_SECS.to_string())
        .env(HEADER_TIMEOUT_ENV, "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Owned by `Proc` at once, so it is killed and waited for on every path.
    let mut proc = Proc(child);
    let mut out = BufReader::new(proc.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no address printed");
        if let Some(at) = line.find("http://") {
            let addr: String = line[at + 7..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            // Keep reading its output so it never blocks on a full pipe.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out, &mut std::io::sink());
            });
            return (proc, addr.parse().unwrap());
        }
    }
}

/// Opens up to `n` connections that send nothing; stops early if connecting stalls.
fn open_idle(addr: SocketAddr, n: u64) -> Vec<TcpStream> {
    let started = Instant::now();
    let mut conns = Vec::new();
    while (conns.len() as u64) < n && started.elapsed() < Duration::from_secs(15) {
        // From 127.0.0.2..=127.0.0.17 in turn: with 20,000 connections from one address, the
        // kernel's search for a free source port makes each connect slow.
        let source = SocketAddr::from(([127, 0, 0, 2 + (conns.len() % 16) as u8], 0));
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&source.into()).unwrap();
        match socket.connect_timeout(&addr.into(), Duration::from_secs(2)) {
            Ok(()) => {
                let c = TcpStream::from(socket);
                c.set_nonblocking(true).unwrap();
                conns.push(c);
            }
            Err(e) => panic!("connection {} refused: {e}", conns.len()),
        }
    }
    eprintln!(
        "opened {} idle connections in {:.1} s",
        conns.len(),
        started.elapsed().as_secs_f64()
    );
    conns
}

/// How many of `conns` the server still holds open (a closed one reads end-of-file or a reset).
fn still_open(conns: &[TcpStream]) -> usize {
    let mut buf = [0u8; 1];
    conns
        .iter()
        .filter(|c| {
            let mut stream: &TcpStream = c;
            matches!(stream.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
        })
        .count()
}

/// Holds as many idle connections as the limit allows, runs `fresh` (which must succeed), and
/// waits for the server to close the idle ones.
fn under_idle_connections(what: &str, addr: SocketAddr, fresh: impl FnOnce()) {
    let limit = raise_own_fd_limit();
    let n = WANTED.min(limit.saturating_sub(SPARE_FDS));
    let conns = open_idle(addr, n);
    let held = still_open(&conns);
    let started = Instant::now();
    fresh();
    let answered = started.elapsed();
    eprintln!(
        "{what}: {} connections opened, {held} held open by the server; a fresh request \
         answered in {} ms",
        conns.len(),
        answered.as_millis()
    );
    assert!(
        conns.len() as u64 >= n.min(15_000),
        "only {} connections opened",
        conns.len()
    );
    assert!(held > 10_000, "the server held only {held} connections");

    // Every idle connection is closed after the idle timeout (and the watcher's tick).
    let deadline = Instant::now() + Duration::from_secs(IDLE_SECS + 6);
    loop {
        let open = still_open(&conns);
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {open} idle connections still open after {IDLE_SECS} s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "{what}: every idle connection closed {:.1} s after the fresh request",
        started.elapsed().as_secs_f64()
    );
}

/// A plain HTTP/1.1 request on a fresh connection, with a deadline: status and body.
fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

#[test]
fn fail_idle_connections_neither_lock_out_requests_nor_stay_open() {
    // The witness, cosigning a real checkpoint while the connections are held.
    let dir = tempfile::tempdir().unwrap();
    let signer = {
        use rand_core::SeedableRng;
        LogSigner::generate(
            "connections.example/letters/abc",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap()
    };
    let vkey = signer.verifier().to_vkey();
    let data = dir.path().join("witness");
    let data_arg = data.to_str().unwrap();
    let (witness, addr) = start(&[
        "witness",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--name",
        "witness.test/c1",
        "--data",
        data_arg,
        "--log",
        &vkey,
    ]);
    let mut tree = MerkleLog::new();
    for i in 0..5u32 {
        tree.append(&i.to_be_bytes());
    }
    let note = Checkpoint::new(signer.name(), tree.size(), tree.root())
        .sign(&signer)
        .unwrap();
    let body = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: note.clone(),
    }
    .to_body();
    under_idle_connections("witness", addr, || {
        let head = format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let (status, line) = request(addr, &head, body.as_bytes());
        assert_eq!(status, 200, "{line}");
        let printed = Command::new(env!("CARGO_BIN_EXE_undersigned"))
            .args(["witness", "key", "--data", data_arg])
            .output()
            .unwrap()
            .stdout;
        let witness_key =
            WitnessVerifier::from_vkey(String::from_utf8(printed).unwrap().trim()).unwrap();
        witness_key
            .verify(&add_cosignatures(&note, [&line]))
            .unwrap();
    });
    drop(witness);

    // `serve --dev`, answering its deployment document.
    let data = dir.path().join("serve");
    let listen = format!("127.0.0.1:{}", crate::flow::free_port());
    let (server, addr) = start(&[
        "serve",
        "--dev",
        "--listen",
        &listen,
        "--data",
        data.to_str().unwrap(),
        "--tag-key-file",
        data.with_extension("tag.key").to_str().unwrap(),
    ]);
    under_idle_connections("serve --dev", addr, || {
        let (status, body) = request(
            addr,
            "GET /api/v1/deployment HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
            b"",
        );
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(doc["witness_logs_under"].is_array(), "{doc}");
    });
    drop(server);
}

/// A request head that trickles in is cut at the header timeout, and a body that does not
/// arrive whole in time gets no answer from the handler; an honest request on the same
/// server goes on.
#[test]
fn fail_slow_heads_and_bodies_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let signer = {
        use rand_core::SeedableRng;
        LogSigner::generate(
            "connections.example/letters/slow",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(6),
        )
        .unwrap()
    };
    let vkey = signer.verifier().to_vkey();
    let data = dir.path().join("witness");
    let (witness, addr) = start(&[
        "witness",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--name",
        "witness.test/c2",
        "--data",
        data.to_str().unwrap(),
        "--log",
        &vkey,
        "--body-timeout",
        "2",
        "--idle-timeout",
        "30",
    ]);
    // A head begun and never finished: closed about 2 s (the header timeout) later, though
    // the idle timeout is longer.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(10),
        "a slow head was closed after {took:?}"
    );
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));

    // A body announced at 100 bytes, of which 10 arrive: no cosignature, the request ends
    // within the body timeout.
    let mut body = TcpStream::connect(addr).unwrap();
    body.write_all(
        b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 100\r\n\r\nold 0\n\n12",
    )
    .unwrap();
    body.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = body.read_to_end(&mut buf);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(10),
        "a slow body ended after {took:?}: {text}"
    );
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    assert!(!text.contains('\u{2014}'), "{text}");

    // The witness still answers.
    let mut tree = MerkleLog::new();
    tree.append(b"one");
    let note = Checkpoint::new(signer.name(), 1, tree.root())
        .sign(&signer)
        .unwrap();
    let req = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: note,
    }
    .to_body();
    let head = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        req.len()
    );
    let (status, line) = request(addr, &head, req.as_bytes());
    assert_eq!(status, 200, "{line}");
    drop(witness);
}
