//! Identifiers the app generates for files, links and slots.
//!
//! An id is 16 characters of lower-case base32 (80 random bits). The alphabet has no `.`, `/`,
//! `\` or `-`, so an id is always one harmless path component and never looks like a CLI option;
//! stored files are named by id alone, never by anything a user or an uploader chose.

use rand::Rng;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const LEN: usize = 16;

/// A fresh random id.
pub fn generate() -> String {
    let mut rng = rand::rng();
    (0..LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Whether `text` has the exact shape of an id. Checked before an id is used in a path.
pub fn is_valid(text: &str) -> bool {
    text.len() == LEN && text.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_valid(&a) && is_valid(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_anything_else() {
        for bad in ["", "..", "abc", "ABCDEFGHIJKLMNOP", "abcdefghijklmno/", "abcdefghijklmn..", "abcdefghijklmnop1"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
