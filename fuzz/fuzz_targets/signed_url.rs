//! The signature verifier on arbitrary ids and signatures: never panics, accepts nothing but a
//! real signature, and always accepts a real one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sharelock::signing::{Purpose, Signer};

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sharelock-fuzz-signer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Signer::create(&dir.join("secret.key")).unwrap()
    })
}

fuzz_target!(|input: (&str, &str)| {
    let (id, sig) = input;
    let s = signer();
    let real = s.sign(Purpose::Link, id);
    assert!(s.verify(Purpose::Link, id, &real));
    assert!(!s.verify(Purpose::Slot, id, &real), "a link signature is no slot signature");
    if sig != real {
        assert!(!s.verify(Purpose::Link, id, sig), "forged signature accepted");
    }
});
