//! A real PostgreSQL server for the tests, one per test process, started on
//! first use: `initdb` (once per machine and PostgreSQL version, into a
//! template that later processes copy) and `pg_ctl start` on a temporary
//! directory and a free port on 127.0.0.1. Every test gets its own
//! database.
//!
//! A watchdog process stops the server (`pg_ctl stop -m immediate`) and
//! removes its directory as soon as the test process is gone, however it
//! ended: passed, failed, aborted or killed. As root (initdb refuses root)
//! the server runs as the `postgres` user. Every statement is logged
//! (`log_statement = all`, lines prefixed with `db=<database>`), so tests
//! can check what ran.
//!
//! The server binaries are looked up in `$ALGOHOST_PG_BIN`, then
//! `/usr/lib/postgresql/<newest>/bin`, then the `PATH`;
//! `scripts/ensure-test-deps.sh` installs them.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The superuser `initdb` creates; connections are trusted on 127.0.0.1.
const SUPERUSER: &str = "algohost";

/// The running server of this test process.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    /// Owner of the server's files and processes when the tests run as root.
    run_as: Option<String>,
    /// The temporary directory: `data/` and `server.log`.
    dir: PathBuf,
    port: u16,
    /// Stops the server once this process is gone; never waited for.
    watchdog: Option<Child>,
}

/// A database of its own for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Its name, as in the statement log's `db=` prefix.
    pub name: String,
    /// `postgres://algohost@127.0.0.1:<port>/<name>?sslmode=disable`.
    pub url: String,
}

/// The server of this process, started on first use.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// A new, empty database on the server of this process; `label` (a short
/// lowercase word) makes its name easy to find in the log.
pub fn database(label: &str) -> TestDatabase {
    server().create_database(label)
}

impl PgServer {
    fn start() -> Self {
        let bin = bin_dir();
        let run_as = is_root().then(|| "postgres".to_owned());
        let template = template(&bin, run_as.as_deref());
        // A directory of an earlier process with this pid may be left (one
        // whose watchdog could not remove it): the next name then.
        let dir = loop {
            let dir = std::env::temp_dir().join(format!(
                "algohost-pg-{}-{}",
                std::process::id(),
                unique()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("create the server directory {}: {e}", dir.display()),
            }
        };
        let data = dir.join("data");
        run(Command::new("cp").arg("-a").arg(&template).arg(&data));
        if let Some(user) = &run_as {
            chown(&dir, user);
        }
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            write_settings(&data, port);
            let mut server = Self {
                bin: bin.clone(),
                run_as: run_as.clone(),
                dir: dir.clone(),
                port,
                watchdog: None,
            };
            let out = server
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(server.log_path())
                .args(["-w", "-t", "60", "start"])
                .stdin(Stdio::null())
                .output()
                .expect("run pg_ctl");
            if out.status.success() {
                server.watchdog = Some(server.watch());
                return server;
            }
            // Another process may have taken the port: try another.
            last_error = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                fs::read_to_string(server.log_path()).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start:\n{last_error}");
    }

    /// `postgres://algohost@127.0.0.1:<port>/<database>?sslmode=disable`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// The server's log file (stderr, with every statement).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The statements the server logged for `database`, in order: the text
    /// after `statement: ` or `execute <name>: ` on each log line of that
    /// database (continuation lines of multi-line statements are left out).
    pub fn statements(&self, database: &str) -> Vec<String> {
        let log = fs::read_to_string(self.log_path()).expect("read the server log");
        let prefix = format!(" db={database} ");
        log.lines()
            .filter(|line| line.contains(&prefix))
            .filter_map(|line| {
                let (_, message) = line.split_once(" LOG:  ")?;
                if let Some(text) = message.strip_prefix("statement: ") {
                    return Some(text.to_owned());
                }
                let text = message.strip_prefix("execute ")?;
                Some(text.split_once(": ")?.1.to_owned())
            })
            .collect()
    }

    /// A superuser `role` that must log in with `password` over TCP (the
    /// others keep logging in without one).
    pub fn role_with_password(&self, role: &str, password: &str) {
        self.psql(
            "postgres",
            &format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'"),
        );
        let hba = self.dir.join("data").join("pg_hba.conf");
        let rules = fs::read_to_string(&hba).expect("read pg_hba.conf");
        let rule = format!("host all {role} 127.0.0.1/32 scram-sha-256\n");
        fs::write(&hba, rule + &rules).expect("write pg_hba.conf");
        self.psql("postgres", "SELECT pg_reload_conf()");
    }

    /// Runs SQL in `database` through `psql` as the superuser and returns
    /// the unaligned output (`|` between fields).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed on {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Turns TLS on (once; needs the `openssl` command) with a server
    /// certificate for 127.0.0.1 signed by a new CA, and returns the CA's
    /// PEM file.
    #[cfg(feature = "postgres-tls")]
    pub fn enable_tls(&self) -> PathBuf {
        static CA: OnceLock<PathBuf> = OnceLock::new();
        CA.get_or_init(|| {
            let tls = self.dir.join("tls");
            fs::create_dir_all(&tls).expect("create the TLS directory");
            certificates(&tls);
            if let Some(user) = &self.run_as {
                chown(&tls, user);
            }
            run(Command::new("chmod").arg("600").arg(tls.join("server.key")));
            let path = |name: &str| tls.join(name).display().to_string();
            self.psql(
                "postgres",
                &format!("ALTER SYSTEM SET ssl_cert_file = '{}'", path("server.crt")),
            );
            self.psql(
                "postgres",
                &format!("ALTER SYSTEM SET ssl_key_file = '{}'", path("server.key")),
            );
            self.psql("postgres", "ALTER SYSTEM SET ssl = on");
            self.psql("postgres", "SELECT pg_reload_conf()");
            tls.join("ca.crt")
        })
        .clone()
    }

    fn create_database(&self, label: &str) -> TestDatabase {
        let name = format!("t_{label}_{}_{}", std::process::id(), unique());
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        TestDatabase {
            url: self.url(&name),
            name,
        }
    }

    /// A command of the server's binaries, as the server's user.
    fn command(&self, program: &str) -> Command {
        command_as(&self.bin, self.run_as.as_deref(), program)
    }

    /// Starts the watchdog that stops the server once this process is gone.
    fn watch(&self) -> Child {
        const SCRIPT: &str = r#"while kill -0 "$WATCH_PID" 2>/dev/null; do sleep 0.2; done
if [ -n "$RUN_AS" ]; then
  runuser -u "$RUN_AS" -- "$PG_CTL" -D "$PG_DIR/data" -m immediate -w stop
else
  "$PG_CTL" -D "$PG_DIR/data" -m immediate -w stop
fi
rm -rf "$PG_DIR""#;
        Command::new("sh")
            .args(["-c", SCRIPT])
            .env("WATCH_PID", std::process::id().to_string())
            .env("RUN_AS", self.run_as.as_deref().unwrap_or(""))
            .env("PG_CTL", self.bin.join("pg_ctl"))
            .env("PG_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: killing the test's group spares it.
            .process_group(0)
            .spawn()
            .expect("start the PostgreSQL watchdog")
    }
}

/// A template data directory made by `initdb`, shared by every test process
/// of this machine and PostgreSQL version (made once, under a file lock).
fn template(bin: &Path, run_as: Option<&str>) -> PathBuf {
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → "15.18".
    let output = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .expect("run postgres --version");
    let version = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .to_owned();
    let owner = run_as.unwrap_or("self");
    let base = std::env::temp_dir();
    // Bump the number when the initdb options change.
    let template = base.join(format!("algohost-pg-template-2-{version}-{owner}"));
    let lock = File::create(base.join(format!("algohost-pg-template-2-{version}-{owner}.lock")))
        .expect("create the template lock file");
    lock.lock().expect("lock the template lock file");
    if !template.join("PG_VERSION").exists() {
        let partial = base.join(format!(
            "algohost-pg-template-partial-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir(&partial).expect("create the template directory");
        if let Some(user) = run_as {
            chown(&partial, user);
        }
        run(command_as(bin, run_as, "initdb")
            .arg("-D")
            .arg(&partial)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
                "--no-locale",
                // 1 MB WAL segments instead of 16: less to copy per process.
                "--wal-segsize=1",
            ]));
        let _ = fs::remove_dir_all(&template);
        fs::rename(&partial, &template).expect("move the template into place");
    }
    template
}

/// Server settings for tests: fast and unsafe on crash (the data is thrown
/// away), TCP on 127.0.0.1 only, every statement logged.
fn write_settings(data: &Path, port: u16) {
    let settings = format!(
        "\n# algohost tests\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\n\
         full_page_writes = off\nmax_connections = 60\nshared_buffers = 32MB\n\
         log_statement = 'all'\nlog_line_prefix = '%m [%p] db=%d '\nlog_min_messages = warning\n"
    );
    let base = fs::read_to_string(data.join("postgresql.conf.orig"))
        .or_else(|_| fs::read_to_string(data.join("postgresql.conf")))
        .expect("read postgresql.conf");
    if !data.join("postgresql.conf.orig").exists() {
        fs::write(data.join("postgresql.conf.orig"), &base).expect("keep postgresql.conf");
    }
    fs::write(data.join("postgresql.conf"), base + &settings).expect("write postgresql.conf");
}

/// The directory of `initdb`, `pg_ctl`, `postgres` and `psql`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ALGOHOST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .expect(
            "PostgreSQL's server binaries (initdb, pg_ctl) were not found: run \
             scripts/ensure-test-deps.sh (Debian: apt-get install postgresql) or set ALGOHOST_PG_BIN",
        )
}

fn command_as(bin: &Path, run_as: Option<&str>, program: &str) -> Command {
    match run_as {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(bin.join(program));
            command
        }
        None => Command::new(bin.join(program)),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn chown(path: &Path, user: &str) {
    run(Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path));
}

fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A number unique within this process.
fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Writes a new CA (`ca.crt`) and a certificate for 127.0.0.1 it signed
/// (`server.crt`, key `server.key`) into `dir`, with the `openssl` command.
pub fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=algohost test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    fs::write(dir.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").expect("write san.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}
