//! What the tests of the real binary share: a `civicgrid serve` process
//! started on a free port, stopped when dropped, and a minimal HTTP/1.1
//! client.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    /// `civicgrid serve --addr 127.0.0.1:0` with `args`, once it listens.
    pub fn start<I, S>(args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_civicgrid"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(args);
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .env_remove("CIVICGRID_DATABASE")
            .env_remove("CIVICGRID_KEY_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The server prints its address once it is listening: no fixed port, no sleeping.
        let addr = loop {
            let line = lines.next().expect("server exited before listening").unwrap();
            if let Some(a) = line.strip_prefix("listening on http://") {
                break a.to_owned();
            }
        };
        Server { child, addr }
    }

    /// Sends SIGTERM and waits for the process to exit on its own; its status.
    pub fn stop(mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `civicgrid serve` on a SQLite file, with the demo if asked.
pub fn serve(db: &Path, demo: bool) -> Server {
    let mut args = vec![OsStr::new("--database"), db.as_os_str()];
    if demo {
        args.push(OsStr::new("--demo"));
    }
    Server::start(args)
}

/// A minimal HTTP/1.1 exchange; returns the status and the body.
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_as(addr, None, method, path, body)
}

pub fn http_as(
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    exchange(addr, &auth, method, path, body)
}

/// A request with a bearer token and one more header line (`Name: value`).
pub fn http_with(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    header: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    exchange(addr, &format!("Authorization: Bearer {token}\r\n{header}\r\n"), method, path, body)
}

/// One request with `headers` (lines ending in CRLF) on a connection of its own.
fn exchange(addr: &str, headers: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Signs in with the demo password; the bearer token.
pub fn token(addr: &str, username: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"demo-password-2026"}}"#);
    let (status, b) = http(addr, "POST", "/api/v1/session", &body).unwrap();
    assert_eq!(status, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// One message of an event stream: a comment, or an event with its name, id and data.
#[derive(Debug, Clone, Default)]
pub struct SseMessage {
    pub comment: Option<String>,
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// `GET /api/v1/events` held open, read by a thread of its own: a minimal
/// Server-Sent Events client over chunked HTTP/1.1.
pub struct EventStream {
    messages: std::sync::mpsc::Receiver<SseMessage>,
    socket: TcpStream,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.socket.shutdown(std::net::Shutdown::Both).ok();
    }
}

impl EventStream {
    /// Opens the stream as the holder of `token` and waits for its `ready` comment.
    pub fn open(addr: &str, token: &str) -> EventStream {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let socket = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut chunked = false;
        let mut event_stream = false;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            chunked |= h == "transfer-encoding: chunked";
            event_stream |= h == "content-type: text/event-stream";
        }
        assert!(chunked && event_stream, "a chunked text/event-stream");
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || read_messages(r, &tx));
        let stream = EventStream { messages, socket };
        let first = stream.recv(Duration::from_secs(30)).expect("the stream's first message");
        assert_eq!(first.comment.as_deref(), Some("ready"), "{first:?}");
        stream
    }

    /// The next message; `Timeout` when none came in time, `Disconnected` when the stream ended.
    pub fn recv(&self, within: Duration) -> Result<SseMessage, std::sync::mpsc::RecvTimeoutError> {
        self.messages.recv_timeout(within)
    }

    /// The data of the next `case` event, comments skipped; `None` when none came in time.
    pub fn next_case(&self, within: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.recv(deadline.saturating_duration_since(Instant::now())).ok()?;
            if m.event.as_deref() == Some("case") {
                let v: serde_json::Value = serde_json::from_str(&m.data).unwrap();
                assert_eq!(m.id.as_deref(), Some(v["id"].to_string().as_str()), "the SSE id is the event's: {v}");
                return Some(v);
            }
            assert!(m.comment.is_some(), "an unexpected message: {m:?}");
        }
    }
}

/// Reads chunks, cuts them into messages at blank lines, and sends them on
/// until the stream ends.
fn read_messages(mut r: BufReader<TcpStream>, tx: &std::sync::mpsc::Sender<SseMessage>) {
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let mut size = String::new();
        if r.read_line(&mut size).unwrap_or(0) == 0 {
            return;
        }
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { return };
        if n == 0 {
            return;
        }
        let mut chunk = vec![0; n + 2];
        if r.read_exact(&mut chunk).is_err() {
            return;
        }
        bytes.extend_from_slice(&chunk[..n]);
        while let Some(end) = bytes.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = bytes.drain(..end + 2).collect();
            let mut m = SseMessage::default();
            for line in String::from_utf8_lossy(&block).lines() {
                if let Some(c) = line.strip_prefix(':') {
                    m.comment = Some(c.trim().to_owned());
                } else if let Some((field, value)) = line.split_once(':') {
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match field {
                        "event" => m.event = Some(value),
                        "id" => m.id = Some(value),
                        "data" => m.data.push_str(&value),
                        _ => {}
                    }
                }
            }
            if tx.send(m).is_err() {
                return;
            }
        }
    }
}
