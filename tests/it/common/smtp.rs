//! A real SMTP server for the tests: Python's aiosmtpd (tests/smtp/smtpd.py)
//! in the test homeserver's virtualenv (target/test-homeserver/venv;
//! tests/smtp/venv.sh installs aiosmtpd and trustme there from PyPI), on
//! 127.0.0.1, requiring STARTTLS (or TLS from the start) and AUTH, with a
//! certificate from a CA made when it starts.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::repo_path;

pub struct SmtpServer {
    pub port: u16,
    pub dir: TempDir,
    pub user: String,
    pub password: String,
    child: Child,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing its standard input stops it; kill in case it hangs.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the server received it.
pub struct Received {
    pub raw: String,
    pub meta: serde_json::Value,
}

impl Received {
    /// The body as a reader sees it: its transfer encoding (quoted-printable
    /// or base64, which may cut a word across lines) undone, with the
    /// subject before it.
    pub fn text(&self) -> String {
        let (head, body) = self.raw.split_once("\r\n\r\n").unwrap_or((&self.raw, ""));
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let subject = header("Subject:").unwrap_or_default();
        let encoding = header("Content-Transfer-Encoding:").map(|e| e.to_ascii_lowercase());
        let body = match encoding.as_deref() {
            Some("base64") => {
                use base64::Engine;
                let joined: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .expect("base64 body"),
                )
                .expect("utf-8 body")
            }
            Some("quoted-printable") => {
                let joined = body.replace("=\r\n", "");
                let bytes = joined.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'=' && i + 2 < bytes.len() {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                        out.push(u8::from_str_radix(hex, 16).expect("=XX"));
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).expect("utf-8 body")
            }
            _ => body.to_string(),
        };
        format!("{subject}\n{}", body.replace("\r\n", "\n"))
    }
}

fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_path("tests/smtp/venv.sh"))
            .arg(repo_path("target/test-homeserver"))
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "the test SMTP server's packages did not install"
        );
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
    })
}

impl SmtpServer {
    /// Starts one; `mode` is "starttls" or "tls".
    pub fn start(mode: &str) -> SmtpServer {
        let dir = tempfile::tempdir().expect("dir");
        let user = "bot@example.org".to_string();
        let password = format!("pw-{}", super::matrix::rand_u64());
        let mut child = Command::new(python())
            .arg(repo_path("tests/smtp/smtpd.py"))
            .arg(dir.path())
            .arg(&user)
            .arg(&password)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("a line");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start: {line:?}"));
        SmtpServer {
            port,
            dir,
            user,
            password,
            child,
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn received(&self) -> Vec<Received> {
        let mut found = Vec::new();
        for n in 1.. {
            let eml = self.dir.path().join(format!("{n}.eml"));
            let meta = self.dir.path().join(format!("{n}.json"));
            let (Ok(raw), Ok(meta)) = (std::fs::read(&eml), std::fs::read_to_string(&meta)) else {
                break;
            };
            found.push(Received {
                raw: String::from_utf8_lossy(&raw).into_owned(),
                meta: serde_json::from_str(&meta).expect("json"),
            });
        }
        found
    }

    /// Waits until `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
