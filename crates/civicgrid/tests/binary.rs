//! The real binary, as an operator runs it: the demo on a fresh database, an
//! acknowledged write surviving `kill -9`, and a clean stop on SIGTERM, event
//! streams open or not.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use common::{EventStream, http, http_as, serve, token};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn code_of(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(v["code"].as_str()?.to_owned())
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("durable.db");
    let server = serve(&db, true);
    let (status, _) = http(&server.addr, "GET", "/healthz", "").unwrap();
    assert_eq!(status, 200);
    let admin = token(&server.addr, "demo-admin");

    // Four writers add facilities as fast as they can; the server is killed
    // while they are still writing. Every 201 must be there after a restart.
    let stop_at = 120;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, acked, admin) = (server.addr.clone(), acked.clone(), admin.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let body = format!(
                        r#"{{"category":"pharmacy","name":"耐久药房{w}-{i}","lat":34.36{:02},"lon":107.38{:02}}}"#,
                        i % 90 + 10,
                        w * 10 + 10
                    );
                    match http_as(&addr, Some(&admin), "POST", "/api/v1/facilities", &body) {
                        Ok((201, b)) => acked.lock().unwrap().push(code_of(&b).unwrap()),
                        Ok((status, b)) if status != 0 => panic!("unexpected {status}: {b}"),
                        _ => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < stop_at && Instant::now() < deadline {
        std::thread::yield_now();
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= stop_at, "only {} writes acknowledged", acked.len());

    let again = serve(&db, false);
    let (status, body) =
        http_as(&again.addr, Some(&admin), "GET", "/api/v1/facilities?category=pharmacy&limit=1000", "").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stored: Vec<&str> = v["items"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().filter(|c| !stored.contains(&c.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost: {lost:?}", lost.len());
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut server = serve(&db, false);
    assert_eq!(http(&server.addr, "GET", "/healthz", "").unwrap().0, 200);
    // An empty database serves too, with no account to sign in to.
    assert_eq!(http(&server.addr, "GET", "/api/v1/locate?lat=34.36&lon=107.37", "").unwrap().0, 401);
    let wrong = r#"{"username":"demo-admin","password":"demo-password-2026"}"#;
    assert_eq!(http(&server.addr, "POST", "/api/v1/session", wrong).unwrap().0, 401, "no demo accounts without --demo");
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// An event stream never ends on its own; SIGTERM ends it, and the server
/// stops as promptly as with nothing open.
#[test]
fn sigterm_ends_open_event_streams_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("streams.db");
    let server = serve(&db, true);
    let operator = token(&server.addr, "demo-operator");
    let stream = EventStream::open(&server.addr, &operator);
    let status = server.stop(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    loop {
        match stream.recv(Duration::from_secs(10)) {
            Ok(m) => assert!(m.comment.is_some(), "{m:?}"),
            Err(e) => {
                assert_eq!(e, std::sync::mpsc::RecvTimeoutError::Disconnected, "the stream ended");
                break;
            }
        }
    }
}

#[test]
fn the_demo_command_fills_an_empty_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_civicgrid"))
            .args(["demo", "--database"])
            .arg(&db)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("synthetic") && out.contains("231 compounds"), "{out}");
    let second = run();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already holds a district"));
}

fn civicgrid(args: &[&str], db: &Path, stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicgrid"))
        .args(args)
        .arg("--database")
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_first_administrator_is_made_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db");
    let demo = civicgrid(&["demo"], &db, "");
    assert!(demo.status.success());
    let weak =
        civicgrid(&["user", "create", "--username", "chief", "--role", "admin", "--scope", "610304"], &db, "short\n");
    assert!(!weak.status.success(), "a weak password is refused");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
    let made = civicgrid(
        &["user", "create", "--username", "Chief", "--role", "admin", "--scope", "610304"],
        &db,
        "Chencang-District-2026\n",
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(String::from_utf8_lossy(&made.stdout).contains("created user chief"));
    let server = serve(&db, false);
    let (status, body) =
        http(&server.addr, "POST", "/api/v1/session", r#"{"username":"chief","password":"Chencang-District-2026"}"#)
            .unwrap();
    assert_eq!(status, 200, "{body}");
    drop(server);
    let verify = civicgrid(&["audit", "verify"], &db, "");
    assert!(verify.status.success());
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(out.contains("audit chain intact"), "{out}");
}

#[test]
fn rotating_the_key_keeps_every_record_readable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rotate.db");
    let server = serve(&db, true);
    let worker = token(&server.addr, "demo-gridworker");
    let (_, list) = http_as(&server.addr, Some(&worker), "GET", "/api/v1/residents?limit=1", "").unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = v["items"][0]["id"].as_i64().unwrap();
    let unmask = |addr: &str, t: &str| {
        let (status, body) =
            http_as(addr, Some(t), "POST", &format!("/api/v1/residents/{id}/unmask"), r#"{"reason":"核对轮换前后"}"#)
                .unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id_number"].as_str().unwrap().to_owned()
    };
    let before = unmask(&server.addr, &worker);
    drop(server);
    let rotated = civicgrid(&["keys", "rotate"], &db, "");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let out = String::from_utf8_lossy(&rotated.stdout);
    assert!(out.contains("key 2 is now current"), "{out}");
    let again = serve(&db, false);
    let worker = token(&again.addr, "demo-gridworker");
    assert_eq!(unmask(&again.addr, &worker), before);
    drop(again);
    let verify = civicgrid(&["audit", "verify"], &db, "");
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn a_backup_taken_while_the_server_writes_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    let server = serve(&db, true);
    let admin = token(&server.addr, "demo-admin");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let added = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (addr, stop, added) = (server.addr.clone(), stop.clone(), added.clone());
        std::thread::spawn(move || {
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let body = format!(
                    r#"{{"category":"pharmacy","name":"备份中药房{i}","lat":34.36{:02},"lon":107.3810}}"#,
                    i % 90 + 10
                );
                let (status, b) = http_as(&addr, Some(&admin), "POST", "/api/v1/facilities", &body).unwrap();
                assert_eq!(status, 201, "{b}");
                added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    while added.load(std::sync::atomic::Ordering::Relaxed) < 10 {
        std::thread::yield_now();
    }
    let file = dir.path().join("busy.backup");
    let backup = civicgrid(&["backup", "--out", file.to_str().unwrap()], &db, "");
    let during = added.load(std::sync::atomic::Ordering::Relaxed);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    drop(server);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    assert!(during > 10, "the writes went on during the backup");

    // One snapshot: every facility added is in the backup with its audit
    // entry, or neither is, though the two tables are read apart.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut table = String::new();
    let (mut facilities, mut audited) = (0, 0);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(r#"{"table":""#) {
            table = rest.split('"').next().unwrap().to_owned();
        } else if line.starts_with('[') {
            facilities += usize::from(table == "facilities");
            audited += usize::from(table == "audit_log" && line.contains(r#""add_facility""#));
        }
    }
    assert!(audited >= 10, "{audited} facilities backed up");
    assert_eq!(facilities, 438 + audited);

    let copy = dir.path().join("copy.db");
    let keys = format!("{}.keys", db.display());
    let restored = civicgrid(&["restore", "--key-file", &keys, "--from", file.to_str().unwrap()], &copy, "");
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    let verify = civicgrid(&["audit", "verify"], &copy, "");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit chain intact"));
}

#[test]
fn bad_serve_options_are_refused_with_a_message() {
    let cases: [(&[&str], &str); 4] = [
        (&["--clock-every", "0"], "seconds from 0.1"),
        (&["--clock-every", "soon"], "seconds from 0.1"),
        (&["--clock-ahead-hours=-1"], "working hours"),
        (&["--database", "postgres://nobody@127.0.0.1:1/none"], "--key-file"),
    ];
    for (args, says) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_civicgrid"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("CIVICGRID_DATABASE")
            .env_remove("CIVICGRID_KEY_FILE")
            .env_remove("CIVICGRID_CLOCK_EVERY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
