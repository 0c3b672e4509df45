//! Putting nginx in front: nginx-checked links and the nginx configuration.
//!
//! Two ways to let nginx serve the bytes:
//! - **Offload** (`serve --offload nginx`): Sharelock checks every request as usual, then answers
//!   with `X-Accel-Redirect` to an `internal` location over the store, and nginx sends the file
//!   (sendfile, Range, conditional requests). See [`crate::http::Offload`].
//! - **nginx-checked links** (`link --nginx`): URLs in nginx's `secure_link` format that nginx
//!   verifies alone, for public, high-volume files. They use MD5 (nginx's only choice), a separate
//!   secret, and cannot be revoked one by one or counted: rotate the nginx secret to kill them all.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::{Digest, Md5};
use rand::RngCore;

use crate::atomic::{self, Existing};
use crate::files::FileRecord;
use crate::{Error, Result, names};

/// Where nginx-checked links live: `/n/{file_id}/{name}?md5=…&expires=…`.
pub const LINK_PREFIX: &str = "/n/";
/// The default internal location for offloaded downloads.
pub const DEFAULT_OFFLOAD_PREFIX: &str = "/_sharelock_store/";

/// The nginx secret: separate from the signing secret, because it is written into nginx's
/// configuration in plain text.
#[derive(Debug, Clone)]
pub struct NginxSecret(String);

impl NginxSecret {
    /// Loads the secret at `path`, creating it (0600) if there is none.
    pub fn open(path: &Path) -> Result<NginxSecret> {
        match fs::read_to_string(path) {
            Ok(text) if text.trim().len() >= 32 => Ok(NginxSecret(text.trim().to_string())),
            Ok(_) => Err(Error::InvalidInput(format!(
                "the nginx secret {} is damaged: delete it to make a new one",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 24];
                rand::rng().fill_bytes(&mut raw);
                let secret = URL_SAFE_NO_PAD.encode(raw);
                match atomic::write(path, true, Existing::Keep, |f| f.write_all(secret.as_bytes())) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(Error::io(format!("cannot write {}", path.display()), e));
                    }
                    _ => {}
                }
                // Another process may have won the race: use whatever is there now.
                NginxSecret::open(path)
            }
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    /// The secret as nginx's configuration holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The path nginx sees (`$uri`, decoded) and the path to put in a URL (encoded) for a file's
/// nginx-checked link.
pub fn link_paths(file: &FileRecord) -> (String, String) {
    (
        format!("{LINK_PREFIX}{}/{}", file.id, file.name),
        format!("{LINK_PREFIX}{}/{}", file.id, names::url_segment(&file.name)),
    )
}

/// nginx's `secure_link_md5 "$secure_link_expires$uri SECRET"`: base64url (no padding) of the
/// MD5 of `"{expires}{uri} {secret}"`.
pub fn secure_link_hash(expires: i64, uri: &str, secret: &NginxSecret) -> String {
    let digest = Md5::digest(format!("{expires}{uri} {}", secret.as_str()).as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// What `sharelock nginx-config` needs to write a configuration.
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// Where nginx listens, e.g. `0.0.0.0:80`.
    pub listen: String,
    /// Where Sharelock listens, e.g. `127.0.0.1:7420`.
    pub upstream: String,
    /// `server_name`, e.g. `files.example.org` (`_` for any).
    pub server_name: String,
    /// The data dir (for logs, temp files and the pid file under `nginx/`).
    pub data_dir: PathBuf,
    /// The store folder, served by the internal location.
    pub store_dir: PathBuf,
    /// The internal location prefix used with `serve --offload nginx`.
    pub offload_prefix: String,
    /// The nginx secret for nginx-checked links.
    pub secret: NginxSecret,
    /// The user nginx's workers run as when its master runs as root: the data dir's owner, who
    /// can read the store.
    pub user: Option<String>,
    /// HTTPS: the certificate chain and its key (e.g. certbot's `fullchain.pem` and
    /// `privkey.pem`); without them nginx speaks plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// The certificate and key nginx answers HTTPS with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Checks both files can be read now (as nginx will, at start) and names them absolutely, so
    /// the configuration works from wherever nginx is started.
    pub fn check(cert: &Path, key: &Path) -> Result<TlsFiles> {
        let absolute = |path: &Path, what: &str| {
            fs::File::open(path)
                .and_then(|_| std::path::absolute(path))
                .map_err(|e| Error::io(format!("cannot read the TLS {what} {}", path.display()), e))
        };
        let paths = [absolute(cert, "certificate")?, absolute(key, "key")?];
        for path in &paths {
            let text = path.to_string_lossy();
            if text.contains(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}' || c == '"') {
                return Err(Error::InvalidInput(format!("nginx cannot be given the path {text:?}: move the file")));
            }
        }
        let [cert, key] = paths;
        Ok(TlsFiles { cert, key })
    }
}

/// Checks an offload prefix: an absolute path that ends with `/`, of plain characters only.
pub fn check_offload_prefix(prefix: &str) -> Result<()> {
    let plain = prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
    if prefix.starts_with('/') && prefix.ends_with('/') && prefix.len() > 2 && plain && !prefix.contains("..") {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("invalid offload prefix {prefix:?}: use a path such as /_sharelock_store/")))
    }
}

/// The name of the user owning `path`, from /etc/passwd (no crate reads it more simply).
pub fn owner_name(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = fs::metadata(path).ok()?.uid().to_string();
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    })
}

/// A complete nginx configuration (for `nginx -c`), commented for the people who will read it.
pub fn config(o: &ConfigOptions) -> String {
    let nginx_dir = o.data_dir.join("nginx");
    let n = nginx_dir.display();
    let store = o.store_dir.display();
    let (ssl, tls) = match &o.tls {
        Some(tls) => (
            " ssl",
            format!(
                "\n        # HTTPS with the given certificate; nginx re-reads it on `nginx -s reload` (after\n        # a renewal).\n        ssl_certificate {};\n        ssl_certificate_key {};\n        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:sharelock:10m;\n",
                tls.cert.display(),
                tls.key.display()
            ),
        ),
        None => ("", String::new()),
    };
    let user = match &o.user {
        Some(user) => format!("user {user};"),
        None => "# user: nginx's workers must be able to read the store folder below.".into(),
    };
    format!(
        r#"# nginx in front of Sharelock, generated by `sharelock nginx-config` for the data dir
# {data}
#
# Run:  nginx -c /path/to/this/file          (test it first with nginx -t -c …)
# and run Sharelock with:  sharelock serve --bind {upstream} --offload nginx --base-url https://{server_name_url}
#
# This file holds the nginx secret (for nginx-checked links): keep it readable by root only.

# When nginx starts as root its workers switch to this user, the owner of the data dir, who can
# read the store (Sharelock keeps it owner-only).
{user}
worker_processes auto;
pid {n}/nginx.pid;
error_log {n}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log {n}/access.log;
    # nginx's own temp files, in a folder it can write to however it is started.
    client_body_temp_path {n}/client_body;
    proxy_temp_path {n}/proxy;
    fastcgi_temp_path {n}/fastcgi;
    uwsgi_temp_path {n}/uwsgi;
    scgi_temp_path {n}/scgi;

    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    keepalive_timeout 65s;
    # Slow clients: bounded waits for headers and bodies.
    client_header_timeout 15s;
    client_body_timeout 60s;
    send_timeout 60s;

    upstream sharelock {{
        server {upstream};
        keepalive 32;
    }}

    server {{
        listen {listen}{ssl};
        server_name {server_name};
{tls}
        # Upload slots enforce their own size limits while the bytes stream: no limit here, and
        # no buffering, so Sharelock sees every byte as it arrives and can refuse at once.
        client_max_body_size 0;
        proxy_request_buffering off;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;

        # Everything goes to Sharelock first: it checks signatures, expiry, revocation and
        # download limits, then answers X-Accel-Redirect for the bytes.
        location / {{
            proxy_pass http://sharelock;
        }}

        # The API's live events (Server-Sent Events): each one passed on as it comes, and the
        # stream kept open (Sharelock sends a keep-alive comment every 15 s).
        location = /api/v1/events {{
            proxy_pass http://sharelock;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
        }}

        # The store itself: reachable only through X-Accel-Redirect from Sharelock. A request
        # from outside gets 404. nginx sends the file with sendfile, Range and If-Range,
        # If-None-Match and If-Modified-Since; Content-Type, Content-Disposition and
        # Cache-Control come from Sharelock's answer.
        location {prefix} {{
            internal;
            alias {store}/;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy no-referrer always;
            add_header Content-Security-Policy sandbox always;
        }}

        # nginx-checked links (`sharelock link FILE --nginx`): nginx verifies them alone.
        # md5 = base64url(MD5("{{expires}}{{uri}} SECRET")); a bad hash is 403, an expired link 410.
        # The file name at the end of the URL gives the content type and the saved file's name.
        location ~ "^/n/([a-z2-7]{{16}})/[^/]+$" {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            alias {store}/$1;
            add_header Content-Disposition attachment always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy no-referrer always;
            add_header Content-Security-Policy sandbox always;
        }}
    }}
}}
"#,
        data = o.data_dir.display(),
        upstream = o.upstream,
        listen = o.listen,
        server_name = o.server_name,
        server_name_url = if o.server_name == "_" { "YOUR-HOST" } else { &o.server_name },
        prefix = o.offload_prefix,
        secret = o.secret.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hash_matches_nginx_documentation_format() {
        // echo -n '2147483647/s/link 127.0.0.1 secret' | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =
        // (nginx's own example with `$remote_addr` in the expression); here the same algorithm.
        let secret = NginxSecret("secret".into());
        let hash = secure_link_hash(2147483647, "/n/abc/file.txt", &secret);
        let expected = URL_SAFE_NO_PAD.encode(Md5::digest(b"2147483647/n/abc/file.txt secret"));
        assert_eq!(hash, expected);
        assert_eq!(hash.len(), 22);
    }

    #[test]
    fn offload_prefixes() {
        assert!(check_offload_prefix("/_sharelock_store/").is_ok());
        for bad in ["", "/", "store/", "/store", "/a/../b/", "/a b/", "/x;y/"] {
            assert!(check_offload_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_is_created_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nginx-secret.key");
        let a = NginxSecret::open(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(NginxSecret::open(&path).unwrap().as_str(), a.as_str());
    }
}
