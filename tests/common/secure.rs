//! Secured real servers for tests: a throwaway PKI ([`Pki`], made with the `openssl` CLI and
//! `keytool`), ZooKeeper over TLS with optional client certificates and SASL DIGEST-MD5
//! ([`tls_zk`]), a real MIT KDC ([`Kdc`]) with ZooKeeper authenticating by Kerberos (SASL
//! GSSAPI, [`kerberos_zk`], [`kerberos_tls_zk`]), and Java ZooKeeper's own CLI as an independent
//! client ([`zkcli`]). The kazoo peer takes the same security from the environment that
//! [`Pki::kazoo_env`] and [`kazoo_sasl_env`] build.
//!
//! Everything listens on 127.0.0.1 only; servers and the KDC are stopped, and their files
//! deleted, on drop. Helpers panic with the failing command's output.
//!
//! What Debian's ZooKeeper 3.8 needs (each line measured):
//! - TLS: `serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory`,
//!   `secureClientPort` (+ `secureClientPortAddress=127.0.0.1`) beside the plaintext `clientPort`
//!   (readiness is checked there), and `netty-codec.jar` on the class path (`zookeeper.jar`'s
//!   manifest does not name it). The `ssl.*` keys go both into `zoo.cfg` and into
//!   `-Dzookeeper.ssl.*` properties.
//! - A client certificate from the trusted CA always becomes the session identity
//!   `x509:<subject DN in RFC 2253 order>` (e.g. `CN=client,O=zkstate`), with or without an
//!   explicit `authProvider.x509` line.
//! - SASL: `authProvider.sasl=...SASLAuthenticationProvider` and a JAAS `Server` section
//!   (`-Djava.security.auth.login.config`). The server offers one mechanism: GSSAPI when that
//!   section logs in with Kerberos, else DIGEST-MD5, so one server cannot do both.
//! - Kerberos: clients must name the server by the host of its principal, `localhost`
//!   (`zookeeper/localhost@REALM`), hence `localhost` in every connect string here.
//!   The server principal keeps the realm's default ticket life: with a short one, ZooKeeper's
//!   TGT refresh thread spins at 100 % CPU (it re-logs in at most once a minute and loops).
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zkstate::localzk::{PORT_ATTEMPTS, ServerOptions, ZkServer, pick_ports};

use super::curator_build::JVM_FLAGS;
use super::tools::{ToolOutput, run_tool, run_tool_with_stdin};
use super::wait_for;

/// The password of every Java key and trust store made here.
pub const STORE_PASSWORD: &str = "zkstate-test";
/// The realm of [`Kdc::start`].
pub const REALM: &str = "ZKSTATE.TEST";
/// How long a TLS port or the KDC may take to accept connections after start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);
const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";
const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
const NETTY_FACTORY: &str = "org.apache.zookeeper.server.NettyServerCnxnFactory";

/// Debian's jar directory (`ZKSTATE_ZK_JAR_DIR`, default `/usr/share/java`).
fn jar_dir() -> PathBuf {
    std::env::var_os("ZKSTATE_ZK_JAR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java"))
}

/// A jar of [`jar_dir`] that must exist.
fn jar(name: &str) -> PathBuf {
    let path = jar_dir().join(name);
    assert!(
        path.is_file(),
        "missing {}: run scripts/install-deps",
        path.display()
    );
    path
}

/// A JDK tool: `$JAVA_HOME/bin/NAME` if there, else `NAME` on `PATH` (`ZKSTATE_JAVA` for java).
fn jdk_tool(name: &str) -> PathBuf {
    if name == "java"
        && let Some(java) = std::env::var_os("ZKSTATE_JAVA")
    {
        return PathBuf::from(java);
    }
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin").join(name).is_file() => {
            Path::new(&home).join("bin").join(name)
        }
        _ => PathBuf::from(name),
    }
}

/// Runs `cmd` (with a timeout) and panics with its output unless it succeeds.
fn checked(cmd: Command, what: &str) -> ToolOutput {
    let out = run_tool(cmd, what);
    assert!(
        out.status.success(),
        "{what} failed ({}); is it installed (scripts/install-deps)?\n{}{}",
        out.status,
        out.stderr,
        out.stdout
    );
    out
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn private(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("chmod 600 {}: {e}", path.display()));
}

/// A file-name-safe form of `name` (`zookeeper/localhost` → `zookeeper_localhost`).
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A key pair and certificate on disk.
#[derive(Debug, Clone)]
struct Issued {
    cert: PathBuf,
    key: PathBuf,
}

/// A throwaway PKI in a temp dir: a CA (`CN=zkstate test CA,O=zkstate`), the server's
/// certificate for `localhost` (SAN `DNS:localhost, IP:127.0.0.1`) in a PKCS12 key store, a
/// PKCS12 trust store holding only the CA, and client certificates on demand. Keys are ECDSA
/// P-256; private keys are unencrypted PKCS#8 PEM files of mode 0600; certificates last 2 days.
pub struct Pki {
    pub dir: TempDir,
    /// The CA certificate (PEM): what clients trust.
    pub ca_pem: PathBuf,
    /// The server's key and certificate chain for `localhost` (PKCS12, [`STORE_PASSWORD`]).
    pub server_keystore: PathBuf,
    /// The CA only (PKCS12, [`STORE_PASSWORD`]): the server's trust store for client
    /// certificates; Java clients can use it too.
    pub server_truststore: PathBuf,
    /// [`STORE_PASSWORD`].
    pub store_password: String,
    ca: Issued,
    /// A second CA, which no store trusts, made on first use.
    other_ca: OnceLock<Issued>,
    /// A server key store for `wrong.example` only, made on first use.
    wrong_name_keystore: OnceLock<PathBuf>,
    serial: AtomicU32,
}

/// A client certificate signed by a [`Pki`] CA.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// PEM certificate.
    pub cert: PathBuf,
    /// Unencrypted PKCS#8 PEM private key, mode 0600.
    pub key: PathBuf,
    /// The subject as ZooKeeper's x509 provider names the session (RFC 2253, most specific
    /// first): `CN=<cn>,O=zkstate`; the ACL id is `x509:<dn>`.
    pub dn: String,
}

const CLIENT_EXT: &str = "basicConstraints=critical,CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";

fn server_ext(names: &str) -> String {
    format!(
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth,clientAuth\n\
         subjectAltName={names}\n"
    )
}

impl Pki {
    /// Makes the CA, the server's certificate and its key and trust stores (about 1 s, most of
    /// it `keytool`'s JVM).
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("zkstate-pki-")
            .tempdir()
            .expect("create a temp dir for the PKI");
        let mut pki = Pki {
            ca_pem: PathBuf::new(),
            server_keystore: dir.path().join("server.p12"),
            server_truststore: dir.path().join("truststore.p12"),
            store_password: STORE_PASSWORD.to_string(),
            ca: Issued {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            other_ca: OnceLock::new(),
            wrong_name_keystore: OnceLock::new(),
            serial: AtomicU32::new(1),
            dir,
        };
        pki.ca = pki.make_ca("ca");
        pki.ca_pem = pki.ca.cert.clone();
        let server = pki.issue(
            &pki.ca,
            "server",
            "/O=zkstate/CN=localhost",
            &server_ext("DNS:localhost,IP:127.0.0.1"),
        );
        pki.keystore(&server, &pki.server_keystore);
        let mut keytool = Command::new(jdk_tool("keytool"));
        keytool
            .args(["-importcert", "-noprompt", "-storetype", "PKCS12"])
            .arg("-keystore")
            .arg(&pki.server_truststore)
            .args(["-storepass", STORE_PASSWORD, "-alias", "ca", "-file"])
            .arg(&pki.ca_pem);
        checked(keytool, "keytool -importcert (the trust store)");
        private(&pki.server_truststore);
        pki
    }

    /// A client certificate for `CN=<cn>,O=zkstate` signed by this CA.
    ///
    /// `cn` is kept to letters, digits, `-`, `_`, `.` and spaces, so the DN needs no escaping.
    pub fn client(&self, cn: &str) -> ClientCert {
        self.client_of(&self.ca, cn)
    }

    /// A client certificate for `CN=<cn>,O=zkstate` signed by another CA of the same name,
    /// which no server here trusts.
    pub fn untrusted_client(&self, cn: &str) -> ClientCert {
        let other = self.other_ca.get_or_init(|| self.make_ca("other-ca"));
        self.client_of(other, cn)
    }

    /// A server key store whose certificate names only `wrong.example` (CN and SAN), for
    /// host-name verification failures.
    pub fn wrong_name_keystore(&self) -> PathBuf {
        self.wrong_name_keystore
            .get_or_init(|| {
                let wrong = self.issue(
                    &self.ca,
                    "server-wrong-name",
                    "/O=zkstate/CN=wrong.example",
                    &server_ext("DNS:wrong.example"),
                );
                let path = self.dir.path().join("server-wrong-name.p12");
                self.keystore(&wrong, &path);
                path
            })
            .clone()
    }

    /// The kazoo peer's environment for TLS to a server of this PKI: `ZKTOOL_TLS_CA`, and with
    /// `client` also `ZKTOOL_TLS_CERT` / `ZKTOOL_TLS_KEY`.
    pub fn kazoo_env(&self, client: Option<&ClientCert>) -> Vec<(String, String)> {
        let mut env = vec![("ZKTOOL_TLS_CA".to_string(), path_str(&self.ca_pem))];
        if let Some(client) = client {
            env.push(("ZKTOOL_TLS_CERT".to_string(), path_str(&client.cert)));
            env.push(("ZKTOOL_TLS_KEY".to_string(), path_str(&client.key)));
        }
        env
    }

    fn client_of(&self, ca: &Issued, cn: &str) -> ClientCert {
        assert!(
            !cn.is_empty()
                && cn
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c)),
            "keep client CNs to letters, digits, '-', '_', '.' and spaces: {cn:?}"
        );
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        let issued = self.issue(
            ca,
            &format!("client-{}-{n}", file_name(cn)),
            &format!("/O=zkstate/CN={cn}"),
            CLIENT_EXT,
        );
        ClientCert {
            cert: issued.cert,
            key: issued.key,
            dn: format!("CN={cn},O=zkstate"),
        }
    }

    fn openssl(&self, args: &[&str], what: &str) {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(self.dir.path());
        checked(cmd, &format!("openssl {what}"));
    }

    fn new_key(&self, name: &str) -> PathBuf {
        let key = format!("{name}.key");
        self.openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
            "genpkey",
        );
        let key = self.dir.path().join(key);
        private(&key);
        key
    }

    /// A self-signed CA `CN=zkstate test CA,O=zkstate` named `name` in the temp dir.
    fn make_ca(&self, name: &str) -> Issued {
        let key = self.new_key(name);
        let cert = format!("{name}.pem");
        self.openssl(
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &path_str(&key),
                "-subj",
                "/O=zkstate/CN=zkstate test CA",
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                &cert,
            ],
            "req -x509 (a CA)",
        );
        Issued {
            cert: self.dir.path().join(cert),
            key,
        }
    }

    /// A new key and a certificate for `subject` with extensions `ext`, signed by `ca`.
    fn issue(&self, ca: &Issued, name: &str, subject: &str, ext: &str) -> Issued {
        let key = self.new_key(name);
        let csr = format!("{name}.csr");
        self.openssl(
            &[
                "req",
                "-new",
                "-key",
                &path_str(&key),
                "-subj",
                subject,
                "-out",
                &csr,
            ],
            "req (a CSR)",
        );
        let ext_file = format!("{name}.ext");
        write(&self.dir.path().join(&ext_file), ext);
        let cert = format!("{name}.pem");
        let serial = format!("0x{:x}", uuid::Uuid::new_v4().as_u128() >> 8);
        self.openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &path_str(&ca.cert),
                "-CAkey",
                &path_str(&ca.key),
                "-set_serial",
                &serial,
                "-days",
                "2",
                "-extfile",
                &ext_file,
                "-out",
                &cert,
            ],
            "x509 -req (sign)",
        );
        Issued {
            cert: self.dir.path().join(cert),
            key,
        }
    }

    /// A PKCS12 key store at `path` with `issued`'s key, certificate and this CA.
    fn keystore(&self, issued: &Issued, path: &Path) {
        self.openssl(
            &[
                "pkcs12",
                "-export",
                "-in",
                &path_str(&issued.cert),
                "-inkey",
                &path_str(&issued.key),
                "-certfile",
                &path_str(&self.ca_pem),
                "-name",
                "server",
                "-passout",
                &format!("pass:{STORE_PASSWORD}"),
                "-out",
                &path_str(path),
            ],
            "pkcs12 -export (a key store)",
        );
        private(path);
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

fn path_str(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
        .to_string()
}

/// The kazoo peer's environment for SASL DIGEST-MD5 as `user`.
pub fn kazoo_sasl_env(user: &str, password: &str) -> Vec<(String, String)> {
    vec![(
        "ZKTOOL_SASL".to_string(),
        format!("digest-md5:{user}:{password}"),
    )]
}

/// How [`tls_zk`] (and [`kerberos_tls_zk`]) configure the server.
#[derive(Debug, Clone, Default)]
pub struct TlsServerOptions {
    /// `ssl.clientAuth=need`: refuse TLS clients without a certificate from the CA. When false,
    /// `want`: a presented certificate must still be trusted, and names the session.
    pub client_auth_need: bool,
    /// Adds `authProvider.x509=...X509AuthenticationProvider`. Debian's 3.8 maps client
    /// certificates to `x509:` ids without it too (the Netty factory falls back to it).
    pub x509_provider: bool,
    /// SASL DIGEST-MD5 users (name, password) of a JAAS `Server` `DigestLoginModule`; empty:
    /// no SASL.
    pub digest_users: Vec<(String, String)>,
    /// Serve a certificate for `wrong.example` only (CN and SAN), so host-name verification
    /// of `localhost` fails.
    pub wrong_hostname_cert: bool,
    /// More `zoo.cfg` lines, after the ones above (e.g. `enforce.auth.enabled`).
    pub extra_config: Vec<(String, String)>,
}

/// A secured server and the files its configuration names (deleted after it stopped).
pub struct SecureZk {
    pub server: ZkServer,
    /// The TLS client port (`secureClientPort`); 0 when the server has none ([`kerberos_zk`]).
    pub tls_port: u16,
    /// The security lines given to `zoo.cfg` (beyond `ZkServer`'s defaults).
    pub config: Vec<(String, String)>,
    /// The JVM system properties given to the server.
    pub system_properties: Vec<(String, String)>,
    /// Declared last: removed after the server stopped.
    pub files: TempDir,
}

impl SecureZk {
    /// `tcp+tls://localhost:PORT` (zkstate's and zookeeper-client's form; `localhost` so that
    /// host-name verification passes).
    ///
    /// # Panics
    /// When the server has no TLS port.
    pub fn tls_connect_string(&self) -> String {
        format!("tcp+tls://{}", self.tls_hosts())
    }

    /// `localhost:TLS_PORT`, for clients that take TLS as a separate option (kazoo, zkCli).
    ///
    /// # Panics
    /// When the server has no TLS port.
    pub fn tls_hosts(&self) -> String {
        assert!(self.tls_port != 0, "this server has no TLS port");
        format!("localhost:{}", self.tls_port)
    }

    /// `localhost:PORT` of the plaintext port (`localhost`: Kerberos clients must name the
    /// server by the host of `zookeeper/localhost`).
    pub fn plain_connect_string(&self) -> String {
        format!("localhost:{}", self.server.port())
    }
}

/// ZooKeeper with TLS on [`SecureZk::tls_port`] (certificates of `pki`) beside its plaintext
/// port, configured by `opts`; waits until both accept connections.
pub fn tls_zk(pki: &Pki, opts: TlsServerOptions) -> SecureZk {
    start_secure(Some(pki), &opts, None)
}

/// ZooKeeper authenticating by Kerberos (SASL GSSAPI) on its plaintext port, as the principal
/// `zookeeper/localhost@REALM` of `kdc`, with `kerberos.removeHostFromPrincipal` and
/// `kerberos.removeRealmFromPrincipal`: a client `NAME@REALM` (or `NAME/host@REALM`) gets the
/// id `sasl:NAME`.
pub fn kerberos_zk(kdc: &Kdc) -> SecureZk {
    start_secure(None, &TlsServerOptions::default(), Some(kdc))
}

/// [`kerberos_zk`] that also serves TLS like [`tls_zk`] (GSSAPI works on both ports).
///
/// # Panics
/// When `opts.digest_users` is not empty: a server does either DIGEST-MD5 or GSSAPI.
pub fn kerberos_tls_zk(kdc: &Kdc, pki: &Pki, opts: TlsServerOptions) -> SecureZk {
    start_secure(Some(pki), &opts, Some(kdc))
}

fn start_secure(pki: Option<&Pki>, opts: &TlsServerOptions, kdc: Option<&Kdc>) -> SecureZk {
    assert!(
        kdc.is_none() || opts.digest_users.is_empty(),
        "a ZooKeeper server offers either DIGEST-MD5 or GSSAPI, not both"
    );
    let files = tempfile::Builder::new()
        .prefix("zkstate-secure-zk-")
        .tempdir()
        .expect("create a temp dir for the server's security files");
    // The server's own principal keeps the realm's ticket life (see the module docs).
    let kerberos = kdc.map(|kdc| {
        let principal = kdc.principal("zookeeper/localhost");
        let keytab = kdc.add_principal_with_life(&principal, None);
        (kdc, principal, keytab)
    });
    let kerberos = kerberos
        .as_ref()
        .map(|(kdc, p, k)| (*kdc, p.as_str(), k.as_path()));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tls_port = match pki {
            Some(_) => pick_ports(1).expect("a free port")[0],
            None => 0,
        };
        let Settings {
            config,
            props: system_properties,
            classpath,
        } = security_settings(pki, opts, kerberos, tls_port, files.path());
        let options = ServerOptions {
            config: config.clone(),
            system_properties: system_properties.clone(),
            extra_classpath: classpath,
            ..ServerOptions::default()
        };
        let server = match ZkServer::start_with(options) {
            Ok(server) => server,
            // Another process took the TLS port (ZkServer retries its own port only).
            Err(e) if attempt < PORT_ATTEMPTS && e.to_string().contains("already in use") => {
                continue;
            }
            Err(e) => panic!("{e}\n(scripts/install-deps installs ZooKeeper)"),
        };
        if tls_port != 0 {
            // A bare TCP connect (the server logs it as an "Unsuccessful handshake").
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, tls_port));
            let listening = wait_for(
                || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok(),
                LISTEN_TIMEOUT,
            );
            assert!(
                listening,
                "zookeeper's TLS port {tls_port} did not accept connections within \
                 {LISTEN_TIMEOUT:?}; see {}",
                server.log_file().display()
            );
        }
        return SecureZk {
            server,
            tls_port,
            config,
            system_properties,
            files,
        };
    }
}

/// The `zoo.cfg` lines, JVM properties and class path additions of a secured server.
#[derive(Default)]
struct Settings {
    config: Vec<(String, String)>,
    props: Vec<(String, String)>,
    classpath: Vec<PathBuf>,
}

impl Settings {
    fn cfg(&mut self, key: &str, value: &str) {
        self.config.push((key.to_string(), value.to_string()));
    }

    fn prop(&mut self, key: &str, value: &str) {
        self.props.push((key.to_string(), value.to_string()));
    }

    /// A `zoo.cfg` line and the same as a `zookeeper.KEY` property.
    fn both(&mut self, key: &str, value: &str) {
        self.cfg(key, value);
        self.prop(&format!("zookeeper.{key}"), value);
    }
}

/// The settings of a secured server; writes its JAAS file into `dir`. `kerberos`: the KDC, the
/// server's principal and its keytab.
fn security_settings(
    pki: Option<&Pki>,
    opts: &TlsServerOptions,
    kerberos: Option<(&Kdc, &str, &Path)>,
    tls_port: u16,
    dir: &Path,
) -> Settings {
    let mut s = Settings::default();
    if let Some(pki) = pki {
        let keystore = if opts.wrong_hostname_cert {
            pki.wrong_name_keystore()
        } else {
            pki.server_keystore.clone()
        };
        s.cfg("serverCnxnFactory", NETTY_FACTORY);
        s.cfg("secureClientPort", &tls_port.to_string());
        s.cfg("secureClientPortAddress", "127.0.0.1");
        s.both("ssl.keyStore.location", &path_str(&keystore));
        s.both("ssl.keyStore.password", STORE_PASSWORD);
        s.both("ssl.keyStore.type", "PKCS12");
        s.both("ssl.trustStore.location", &path_str(&pki.server_truststore));
        s.both("ssl.trustStore.password", STORE_PASSWORD);
        s.both("ssl.trustStore.type", "PKCS12");
        let client_auth = if opts.client_auth_need {
            "need"
        } else {
            "want"
        };
        s.both("ssl.clientAuth", client_auth);
        if opts.x509_provider {
            s.both("authProvider.x509", X509_PROVIDER);
        }
        s.classpath.push(jar("netty-codec.jar"));
    }
    let jaas = dir.join("jaas.conf");
    if !opts.digest_users.is_empty() {
        let mut users = String::new();
        for (name, password) in &opts.digest_users {
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "keep DIGEST-MD5 user names to letters, digits, '_' and '-': {name:?}"
            );
            users.push_str(&format!("\n  user_{name}={}", jaas_string(password)));
        }
        write(
            &jaas,
            &format!(
                "Server {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required{users};\n}};\n"
            ),
        );
    }
    if let Some((kdc, principal, keytab)) = kerberos {
        write(
            &jaas,
            &format!(
                "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
                 useKeyTab=true\n  keyTab={}\n  storeKey=true\n  useTicketCache=false\n  \
                 doNotPrompt=true\n  principal={};\n}};\n",
                jaas_string(&path_str(keytab)),
                jaas_string(principal)
            ),
        );
        s.both("kerberos.removeHostFromPrincipal", "true");
        s.both("kerberos.removeRealmFromPrincipal", "true");
        s.prop("java.security.krb5.conf", &path_str(&kdc.krb5_conf));
        s.prop("sun.security.krb5.disableReferrals", "true");
    }
    if jaas.exists() {
        private(&jaas);
        s.both("authProvider.sasl", SASL_PROVIDER);
        s.prop("java.security.auth.login.config", &path_str(&jaas));
    }
    for (key, value) in &opts.extra_config {
        s.cfg(key, value);
    }
    s
}

/// A double-quoted JAAS option value.
fn jaas_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A real MIT KDC (`krb5kdc -n`) for realm [`REALM`] on a free loopback port (TCP and UDP),
/// with its own `krb5.conf`, `kdc.conf` and database in [`Kdc::dir`]; killed on drop.
///
/// Clients find it through [`Kdc::env`] (`KRB5_CONFIG`; its `udp_preference_limit = 1` makes
/// them use TCP) or, in a JVM, `-Djava.security.krb5.conf=`[`Kdc::krb5_conf`].
pub struct Kdc {
    pub realm: String,
    /// The client configuration (`KRB5_CONFIG`, `-Djava.security.krb5.conf`).
    pub krb5_conf: PathBuf,
    /// The KDC's configuration (`KRB5_KDC_PROFILE`).
    pub kdc_conf: PathBuf,
    /// The KDC's port on 127.0.0.1 (TCP and UDP).
    pub port: u16,
    /// The ticket life of the principals [`add_principal`](Self::add_principal) creates
    /// (`None`: the realm's default, one day).
    pub max_life: Option<Duration>,
    /// The tolerated clock skew (`clockskew` in `krb5.conf`, read by the KDC, MIT clients and
    /// Java): 5 min for [`Kdc::start`], 2 s for [`Kdc::start_with_max_life`], so that a ticket
    /// is refused 2 s after it expired rather than 5 min (not 1 s: an authenticator can take
    /// that long to reach a busy server).
    pub clock_skew: Duration,
    child: Option<Child>,
    names: AtomicU32,
    /// Declared last: removed after the KDC was killed.
    pub dir: TempDir,
}

impl Kdc {
    /// Creates the realm's database and starts the KDC (about 0.1 s).
    pub fn start() -> Kdc {
        Kdc::start_inner(None)
    }

    /// [`Kdc::start`], where every principal [`add_principal`](Self::add_principal) creates
    /// gets tickets of at most `max_life` (whole seconds; `kadmin addprinc -maxlife`), and the
    /// clock skew allowed is 2 s, to test re-authentication after expiry. Servers made by
    /// [`kerberos_zk`] keep one day.
    pub fn start_with_max_life(max_life: Duration) -> Kdc {
        assert!(
            max_life >= Duration::from_secs(1),
            "ticket lives are whole seconds"
        );
        Kdc::start_inner(Some(max_life))
    }

    fn start_inner(max_life: Option<Duration>) -> Kdc {
        let dir = tempfile::Builder::new()
            .prefix("zkstate-kdc-")
            .tempdir()
            .expect("create a temp dir for the KDC");
        let root = dir.path().to_path_buf();
        write(&root.join("kadm5.acl"), "");
        let mut kdc = Kdc {
            realm: REALM.to_string(),
            krb5_conf: root.join("krb5.conf"),
            kdc_conf: root.join("kdc.conf"),
            port: free_tcp_udp_port(),
            max_life,
            clock_skew: Duration::from_secs(if max_life.is_some() { 2 } else { 300 }),
            child: None,
            names: AtomicU32::new(0),
            dir,
        };
        kdc.write_configs();
        let mut create = Command::new(sbin("kdb5_util"));
        create
            .args(["create", "-s", "-r", REALM, "-P", "zkstate-test-master"])
            .envs(kdc_env(&kdc.krb5_conf, &kdc.kdc_conf));
        checked(create, "kdb5_util create");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out_path = root.join("krb5kdc.out");
            let out = File::create(&out_path).expect("create krb5kdc.out");
            let err = out.try_clone().expect("clone krb5kdc.out");
            let child = Command::new(sbin("krb5kdc"))
                .args(["-n", "-r", REALM, "-P"])
                .arg(root.join("krb5kdc.pid"))
                .envs(kdc_env(&kdc.krb5_conf, &kdc.kdc_conf))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("start krb5kdc (scripts/install-deps): {e}"));
            kdc.child = Some(child);
            match kdc.wait_listening() {
                Ok(()) => return kdc,
                Err(why) => {
                    kdc.kill();
                    if attempt < PORT_ATTEMPTS && kdc.logs().contains("in use") {
                        // Another process took the port meanwhile: same database, fresh port.
                        kdc.port = free_tcp_udp_port();
                        kdc.write_configs();
                        continue;
                    }
                    panic!("krb5kdc on port {} {why}:\n{}", kdc.port, kdc.logs());
                }
            }
        }
    }

    fn write_configs(&self) {
        let root = self.dir.path();
        write(&self.kdc_conf, &kdc_conf_text(root, self.port));
        write(
            &self.krb5_conf,
            &krb5_conf_text(root, self.port, self.clock_skew),
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("exited ({status})"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("did not listen within {LISTEN_TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The KDC's output and log.
    pub fn logs(&self) -> String {
        ["krb5kdc.out", "kdc.log"]
            .iter()
            .map(|f| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `name@REALM` (`name` unchanged when it has a realm).
    pub fn principal(&self, name: &str) -> String {
        if name.contains('@') {
            name.to_string()
        } else {
            format!("{name}@{}", self.realm)
        }
    }

    /// Creates principal `name` (`client`, `zookeeper/localhost`; the realm is added) with a
    /// random key, exports it into its own keytab (mode 0600) and returns the keytab's path.
    pub fn add_principal(&self, name: &str) -> PathBuf {
        self.add_principal_with_life(&self.principal(name), self.max_life)
    }

    fn add_principal_with_life(&self, principal: &str, max_life: Option<Duration>) -> PathBuf {
        let n = self.names.fetch_add(1, Ordering::SeqCst);
        let keytab = self
            .dir
            .path()
            .join(format!("{}-{n}.keytab", file_name(principal)));
        let life = max_life.map_or(String::new(), |d| format!("-maxlife {}s ", d.as_secs()));
        let created = self.kadmin(&format!("addprinc -randkey {life}{principal}"));
        assert!(
            created.contains(&format!("Principal \"{principal}\" created")),
            "kadmin.local addprinc {principal} failed:\n{created}"
        );
        let exported = self.kadmin(&format!("ktadd -k {} {principal}", path_str(&keytab)));
        assert!(
            keytab.is_file() && exported.contains("added to keytab"),
            "kadmin.local ktadd {principal} failed:\n{exported}"
        );
        private(&keytab);
        keytab
    }

    /// `kadmin.local -q QUERY` on this realm's database: its stdout and stderr (kadmin.local
    /// exits 0 even when the query fails).
    pub fn kadmin(&self, query: &str) -> String {
        let mut cmd = Command::new(sbin("kadmin.local"));
        cmd.args(["-r", &self.realm, "-q", query])
            .envs(kdc_env(&self.krb5_conf, &self.kdc_conf));
        let out = checked(cmd, &format!("kadmin.local -q {query:?}"));
        format!("{}{}", out.stdout, out.stderr)
    }

    /// What a Kerberos client process needs: `KRB5_CONFIG` (this realm, this KDC) and
    /// `KRB5CCNAME` (a private, initially empty cache in [`Kdc::dir`], never the user's).
    pub fn env(&self) -> Vec<(String, String)> {
        self.env_with_ccache(&self.dir.path().join("krb5cc"))
    }

    /// [`Kdc::env`] with `KRB5CCNAME=FILE:<ccache>`, e.g. one from [`Kdc::kinit`].
    pub fn env_with_ccache(&self, ccache: &Path) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".to_string(), path_str(&self.krb5_conf)),
            (
                "KRB5CCNAME".to_string(),
                format!("FILE:{}", path_str(ccache)),
            ),
        ]
    }

    /// `kinit -kt KEYTAB PRINCIPAL` into a new credential cache file in [`Kdc::dir`]; returns
    /// the cache's path (for `KRB5CCNAME=FILE:...`, see [`Kdc::env_with_ccache`]).
    pub fn kinit(&self, name: &str, keytab: &Path) -> PathBuf {
        let principal = self.principal(name);
        let n = self.names.fetch_add(1, Ordering::SeqCst);
        let ccache = self
            .dir
            .path()
            .join(format!("krb5cc-{}-{n}", file_name(&principal)));
        let mut cmd = Command::new("kinit");
        cmd.arg("-kt")
            .arg(keytab)
            .arg(&principal)
            .envs(self.env_with_ccache(&ccache));
        checked(cmd, &format!("kinit {principal}"));
        ccache
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("krb5kdc on port {}:\n{}", self.port, self.logs());
        }
    }
}

fn kdc_env(krb5_conf: &Path, kdc_conf: &Path) -> [(String, String); 2] {
    [
        ("KRB5_CONFIG".to_string(), path_str(krb5_conf)),
        ("KRB5_KDC_PROFILE".to_string(), path_str(kdc_conf)),
    ]
}

/// `/usr/sbin/NAME` when there (not on a non-root `PATH`), else `NAME`.
fn sbin(name: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(name);
    if path.is_file() {
        path
    } else {
        PathBuf::from(name)
    }
}

/// A loopback port free for both TCP and UDP now.
fn free_tcp_udp_port() -> u16 {
    for _ in 0..100 {
        let port = pick_ports(1).expect("a free port")[0];
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both TCP and UDP");
}

fn kdc_conf_text(root: &Path, port: u16) -> String {
    let root = root.display();
    format!(
        "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
         [realms]\n {REALM} = {{\n  database_name = {root}/principal\n  \
         key_stash_file = {root}/stash\n  acl_file = {root}/kadm5.acl\n  \
         kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n  \
         max_renewable_life = 0\n  \
         supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n \
         }}\n\
         [logging]\n kdc = FILE:{root}/kdc.log\n admin_server = FILE:{root}/kadmin.log\n \
         default = FILE:{root}/krb5lib.log\n"
    )
}

fn krb5_conf_text(root: &Path, port: u16, clock_skew: Duration) -> String {
    let root = root.display();
    let skew = clock_skew.as_secs();
    format!(
        "[libdefaults]\n default_realm = {REALM}\n clockskew = {skew}\n dns_lookup_kdc = false\n \
         dns_lookup_realm = false\n dns_canonicalize_hostname = false\n rdns = false\n \
         udp_preference_limit = 1\n default_ccache_name = FILE:{root}/krb5cc\n \
         default_keytab_name = FILE:{root}/krb5.keytab\n\
         [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\
         [domain_realm]\n localhost = {REALM}\n"
    )
}

/// A Kerberos login for [`zkcli`]: `principal` (as [`Kdc::principal`] completes it) with the
/// tickets in `ccache` (from [`Kdc::kinit`]).
pub struct KerberosLogin<'a> {
    pub kdc: &'a Kdc,
    pub principal: &'a str,
    pub ccache: &'a Path,
}

/// Runs Java ZooKeeper's own CLI (`org.apache.zookeeper.ZooKeeperMain`, i.e. `zkCli.sh`) on
/// `hosts` with `commands` as its input script (one command each, e.g. `create /a x
/// auth::cdrwa`, `getAcl /a`), then `quit`; returns its output once it exited (60 s at most).
///
/// With `kerberos` it authenticates by SASL GSSAPI from the ticket cache (a JAAS `Client`
/// section with `Krb5LoginModule useTicketCache=true`); with `tls` it connects by TLS trusting
/// that PKI's CA (no client certificate). Its stdout shows `state:SaslAuthenticated` (or
/// `state:AuthFailed`) and each command's answer; `getAcl` prints an id as `'scheme,'id`.
pub fn zkcli(
    hosts: &str,
    commands: &[&str],
    kerberos: Option<KerberosLogin<'_>>,
    tls: Option<&Pki>,
) -> ToolOutput {
    let scratch = tempfile::Builder::new()
        .prefix("zkstate-zkcli-")
        .tempdir()
        .expect("create a temp dir for zkCli");
    let mut cmd = Command::new(jdk_tool("java"));
    cmd.args(JVM_FLAGS);
    let mut classpath = vec![jar("zookeeper.jar")];
    // Quiets SLF4J's "no binding" warnings when present.
    let nop = jar_dir().join("slf4j-nop.jar");
    if nop.is_file() {
        classpath.push(nop);
    }
    match kerberos {
        Some(login) => {
            let jaas = scratch.path().join("jaas.conf");
            write(
                &jaas,
                &format!(
                    "Client {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
                     useTicketCache=true\n  ticketCache={}\n  useKeyTab=false\n  \
                     doNotPrompt=true\n  principal={};\n}};\n",
                    jaas_string(&path_str(login.ccache)),
                    jaas_string(&login.kdc.principal(login.principal))
                ),
            );
            cmd.arg(format!(
                "-Djava.security.auth.login.config={}",
                jaas.display()
            ))
            .arg(format!(
                "-Djava.security.krb5.conf={}",
                login.kdc.krb5_conf.display()
            ))
            .arg("-Dsun.security.krb5.disableReferrals=true")
            // Name the server by the host as given (`localhost`), never by a reverse lookup.
            .arg("-Dzookeeper.sasl.client.canonicalize.hostname=false");
        }
        None => {
            cmd.arg("-Dzookeeper.sasl.client=false");
        }
    }
    if let Some(pki) = tls {
        classpath.push(jar("netty-codec.jar"));
        classpath.push(jar("netty-resolver.jar"));
        cmd.arg("-Dzookeeper.client.secure=true")
            .arg("-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty")
            .arg(format!(
                "-Dzookeeper.ssl.trustStore.location={}",
                pki.server_truststore.display()
            ))
            .arg(format!(
                "-Dzookeeper.ssl.trustStore.password={STORE_PASSWORD}"
            ))
            .arg("-Dzookeeper.ssl.trustStore.type=PKCS12");
    }
    let classpath: Vec<String> = classpath.iter().map(|p| path_str(p)).collect();
    cmd.arg("-cp")
        .arg(classpath.join(":"))
        .arg("org.apache.zookeeper.ZooKeeperMain")
        .args(["-server", hosts]);
    let script_path = scratch.path().join("script");
    let mut script = commands.join("\n");
    script.push_str("\nquit\n");
    write(&script_path, &script);
    let stdin = File::open(&script_path).expect("open the zkCli script");
    run_tool_with_stdin(cmd, &format!("zkCli {hosts}"), Stdio::from(stdin))
}
