//! Throwaway PKI for TLS etcd tests, made with the `openssl` CLI: a CA, a server certificate
//! (SAN IP:127.0.0.1, DNS:localhost; server and client auth, because etcd's gateway dials itself
//! with it) and a client certificate whose CN (`sidekick-test-client`) is not an etcd user, so a
//! client that has the certificate but no password is not authenticated by its CN.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Paths of the PEM files a TLS client (or `sidekick --etcd-cacert/--etcd-cert/--etcd-key`) needs.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the server side needs plus the client's [`TlsFiles`].
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client: TlsFiles,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (is the openssl package installed?)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ec_key(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
}

fn signed_cert(dir: &Path, name: &str, cn: &str, extensions: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let crt = format!("{name}.crt");
    let ext = format!("{name}.ext");
    let subj = format!("/CN={cn}");
    let serial = format!("0x{:016x}", fastrand::u64(1..u64::MAX));
    ec_key(dir, &key);
    std::fs::write(dir.join(&ext), extensions).expect("write openssl extension file");
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "3",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}

/// Creates `ca.crt`, `server.{crt,key}` and `client.{crt,key}` in `dir`.
pub fn generate(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).expect("create pki dir");
    ec_key(dir, "ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=sidekick-test-ca",
            "-days",
            "3",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ],
    );
    signed_cert(
        dir,
        "server",
        "localhost",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    signed_cert(
        dir,
        "client",
        "sidekick-test-client",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    Pki {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client: TlsFiles {
            ca: dir.join("ca.crt"),
            cert: dir.join("client.crt"),
            key: dir.join("client.key"),
        },
    }
}
