//! API tokens: making, listing, revoking and checking them (the rules are in [`crate::tokens`]).

use super::*;
use crate::tokens::{self, CreatedToken, Scopes, TokenInfo};

impl Vault {
    /// Makes a token; its clear text is in the answer and nowhere else.
    pub fn create_token(
        &self,
        name: Option<String>,
        scopes: Scopes,
        lifetime: Lifetime,
        now: i64,
    ) -> Result<CreatedToken> {
        self.write(|c| tokens::create(c, name, scopes, lifetime.expires_at(now), now))
    }

    /// Every token, newest first, revoked ones included; never a secret.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.db.with(|c| tokens::list(c))
    }

    /// One token.
    pub fn token(&self, id: &str) -> Result<TokenInfo> {
        self.db.with(|c| tokens::get(c, id))?.ok_or_else(|| not_found("token", id))
    }

    /// Revokes a token: a running server refuses it from its next request on.
    pub fn revoke_token(&self, id: &str, now: i64) -> Result<TokenInfo> {
        if !self.write(|c| tokens::revoke(c, id, now))? {
            return Err(not_found("token", id));
        }
        self.token(id)
    }

    /// The token a request presents, if it is known, matches and works at `now`.
    pub fn verify_token(&self, token: &str, now: i64) -> Result<Option<TokenInfo>> {
        self.db.with(|c| tokens::verify(c, token, now))
    }

    /// The token that added a file (which must exist), if one did.
    pub fn uploader_of(&self, file_id: &str) -> Result<Option<String>> {
        self.db.with(|c| {
            if !files::exists(c, file_id)? {
                return Err(not_found("file", file_id));
            }
            tokens::uploader_of(c, file_id)
        })
    }
}
