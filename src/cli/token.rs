//! `sharelock token …`: API tokens for scripts, CI jobs, screenshot tools and a remote CLI or
//! desktop app (see the API in [`crate::http`]).

use clap::Subcommand;

use super::output::{Output, emit};
use crate::tokens::{Scope, Scopes, TokenInfo};
use crate::units::Lifetime;
use crate::{Error, Result, Vault, time, tokens};

/// `sharelock token …`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token and print it (shown this once: only its hash is kept).
    Create {
        /// A note saying what it is for.
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// What it may do: read, upload, write, admin (repeat, or separate with commas).
        /// Default: read, upload and write.
        #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scopes)]
        scopes: Vec<Scopes>,
        /// How long it works: 90s, 15m, 1h, 7d or never.
        #[arg(long, value_name = "DURATION", value_parser = super::parse_lifetime, default_value = "never")]
        expires: Lifetime,
        /// Print a ShareX custom uploader (.sxcu) with the new token instead.
        #[arg(long)]
        sharex: bool,
    },
    /// List tokens: id, name, scopes, created, last used and expiry; never a secret.
    Ls,
    /// Revoke a token: a running server refuses it from its next request.
    Revoke {
        /// The token's id.
        token_id: String,
    },
    /// Print a ShareX custom uploader (.sxcu) that uploads with this token and answers with a
    /// link. Only the token itself can go in it (its secret is not kept): give the whole
    /// `slk_…` token, or make a new one with `token create --sharex`.
    Sharex {
        /// The whole token, `slk_<id>_<secret>`; `-` or nothing reads it from stdin, which keeps it
        /// out of the process list other users can read.
        token: Option<String>,
    },
}

fn parse_scopes(s: &str) -> Result<Scopes, String> {
    Scopes::parse(s).map_err(|e| e.to_string())
}

/// How long a link made by a ShareX upload works.
const SHAREX_LINK: &str = "7d";

/// Runs `sharelock token …`.
pub(super) fn run(action: TokenAction, vault: &Vault, out: &Output) -> Result<()> {
    let now = time::now();
    match action {
        TokenAction::Create { name, scopes, expires, sharex } => {
            let scopes =
                if scopes.is_empty() { Scopes::DEFAULT } else { Scopes::of(scopes.into_iter().flat_map(Scopes::iter)) };
            if sharex && !scopes.has(Scope::Upload) {
                return Err(Error::InvalidInput("a ShareX uploader needs the upload scope".into()));
            }
            let made = vault.create_token(name, scopes, expires, now)?;
            if sharex {
                emit(&format!("{}\n", sharex_uploader(vault, &made.token)?));
                return Ok(());
            }
            out.print(&made, || {
                let expiry = match made.expires_at {
                    Some(at) => format!("expires {}", time::rfc3339(at)),
                    None => "never expires".into(),
                };
                format!(
                    "{}\n\ntoken {} ({}), {expiry}. It is shown this once: keep it somewhere safe.",
                    made.token, made.id, made.scopes
                )
            })
        }
        TokenAction::Ls => {
            let list = vault.tokens()?;
            out.print(&list, || ls_text(&list, now))
        }
        TokenAction::Revoke { token_id } => {
            let token = vault.revoke_token(&token_id, now)?;
            out.print(&token, || format!("revoked {}", token.id))
        }
        TokenAction::Sharex { token } => {
            let token = match token.as_deref() {
                None | Some("-") => read_token_from_stdin()?,
                Some(token) => token.to_string(),
            };
            if tokens::split(&token).is_none() && crate::ids::is_valid(&token) {
                return Err(Error::InvalidInput(format!(
                    "{token} is a token's id, and a token's secret is not kept: give the whole token \
                     (slk_{token}_…), or make a new one with `sharelock token create --sharex`"
                )));
            }
            let info = vault.verify_token(&token, now)?.ok_or_else(|| {
                Error::InvalidInput("not a working token of this data dir (unknown, revoked or expired)".into())
            })?;
            if !info.scopes.has(Scope::Upload) {
                return Err(Error::InvalidInput(format!("token {} lacks the upload scope", info.id)));
            }
            emit(&format!("{}\n", sharex_uploader(vault, &token)?));
            Ok(())
        }
    }
}

/// The token on stdin's first line (piped, or typed at a terminal without echo being needed:
/// it is shown once already at creation).
fn read_token_from_stdin() -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("token (slk_…): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::io("cannot read the token from stdin", e))?;
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(Error::InvalidInput("no token on stdin: give the whole slk_… token".into()));
    }
    Ok(token)
}

/// A ShareX custom uploader: the file goes raw to `POST /api/v1/files?name=…&link=7d`, whose
/// answer carries the new link (ShareX makes one request per upload, so the link comes with it).
fn sharex_uploader(vault: &Vault, token: &str) -> Result<String> {
    let base = vault.base_url(None)?;
    let host = base.split("://").nth(1).unwrap_or(&base).to_string();
    let uploader = serde_json::json!({
        "Version": "17.0.0",
        "Name": format!("Sharelock ({host})"),
        "DestinationType": "ImageUploader, TextUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": format!("{base}/api/v1/files"),
        "Parameters": { "name": "{filename}", "link": SHAREX_LINK },
        "Headers": { "Authorization": format!("Bearer {token}") },
        "Body": "Binary",
        "URL": "{json:link.url}",
        "ErrorMessage": "{json:error.message}",
    });
    serde_json::to_string_pretty(&uploader).map_err(|e| Error::InvalidInput(e.to_string()))
}

fn ls_text(list: &[TokenInfo], now: i64) -> String {
    let mut text =
        format!("{:<16}  {:<20}  {:<18}  {:<20}  {:<20}  NAME", "ID", "CREATED", "SCOPES", "LAST USED", "EXPIRES");
    for t in list {
        let expires = match (t.revoked_at, t.expires_at) {
            (Some(_), _) => "revoked".to_string(),
            (None, Some(at)) if at <= now => "expired".to_string(),
            (None, Some(at)) => time::rfc3339(at),
            (None, None) => "never".to_string(),
        };
        text.push_str(&format!(
            "\n{:<16}  {:<20}  {:<18}  {:<20}  {:<20}  {}",
            t.id,
            time::rfc3339(t.created_at),
            t.scopes.to_string(),
            t.last_used_at.map(time::rfc3339).unwrap_or_else(|| "never".into()),
            expires,
            t.name.as_deref().unwrap_or("")
        ));
    }
    text
}
