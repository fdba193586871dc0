//! Per-request cost of each authentication kind: one API key check, one JWT verify (ES256,
//! RS256, EdDSA), one Basic check from the cache, one uncached argon2id verify at the OWASP
//! parameters (m=19456 KiB, t=2, p=1) and one bcrypt verify at cost 10.
//! `cargo bench -p fulcrum-guard --bench auth`

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fulcrum_guard::auth::{
    ApiKeys, Authenticator, BasicUsers, JwtKeys, JwtVerifier, KeySource, Method, Presented, Require,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_800_000_000;

fn der(input: &[u8]) -> (&[u8], &[u8]) {
    let (len, at) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            let len = input[2..2 + k]
                .iter()
                .fold(0usize, |a, b| a << 8 | *b as usize);
            (len, 2 + k)
        }
    };
    (&input[at..at + len], &input[at + len..])
}

/// (signing key, JWK) for `alg`.
fn key(alg: Algorithm) -> (EncodingKey, serde_json::Value) {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Algorithm::ES256 => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let raw = kp.public_key_raw();
            (
                EncodingKey::from_ec_der(&kp.serialize_der()),
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k",
                                   "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}),
            )
        }
        Algorithm::EdDSA => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
            (
                EncodingKey::from_ed_der(&kp.serialize_der()),
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "k",
                                   "x": b64(kp.public_key_raw())}),
            )
        }
        _ => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let pkcs8 = kp.serialize_der();
            let (info, _) = der(&pkcs8);
            let (_, rest) = der(info);
            let (_, rest) = der(rest);
            let (pkcs1, _) = der(rest);
            let (seq, _) = der(kp.public_key_raw());
            let (n, rest) = der(seq);
            let (e, _) = der(rest);
            let n = n.strip_prefix(&[0]).unwrap_or(n);
            (
                EncodingKey::from_rsa_der(pkcs1),
                serde_json::json!({"kty": "RSA", "kid": "k", "n": b64(n), "e": b64(e)}),
            )
        }
    }
}

fn check(c: &mut Criterion, name: &str, a: &Authenticator, p: Presented<'_>) {
    assert!(a.check(&p, Instant::now(), NOW).is_ok(), "{name}");
    c.bench_function(name, |b| {
        b.iter(|| black_box(a.check(black_box(&p), Instant::now(), NOW).is_ok()))
    });
}

fn auth(c: &mut Criterion) {
    let keys = ApiKeys::new(vec![
        ("ci".into(), Sha256::digest(b"key-ci").into()),
        ("deploy".into(), Sha256::digest(b"key-deploy").into()),
    ]);
    let a = Authenticator::new(Method::ApiKey(keys), Require::default());
    let p = Presented {
        api_key: Some(b"key-deploy"),
        ..Presented::default()
    };
    check(c, "auth_api_key", &a, p);

    for (alg, name) in [
        (Algorithm::ES256, "auth_jwt_es256"),
        (Algorithm::RS256, "auth_jwt_rs256"),
        (Algorithm::EdDSA, "auth_jwt_eddsa"),
    ] {
        let (enc, jwk) = key(alg);
        let set = JwtKeys::parse(&serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
        let v = JwtVerifier::new(
            KeySource::Static(set),
            Some("https://id/".into()),
            Some("api".into()),
            60,
        );
        let a = Authenticator::new(Method::Jwt(v), Require::default());
        let mut h = Header::new(alg);
        h.kid = Some("k".into());
        let claims = serde_json::json!({"sub": "alice", "iss": "https://id/", "aud": "api",
                                        "exp": NOW + 600, "scope": "a b c"});
        let value = format!(
            "Bearer {}",
            jsonwebtoken::encode(&h, &claims, &enc).unwrap()
        );
        let p = Presented {
            authorization: Some(value.as_bytes()),
            ..Presented::default()
        };
        check(c, name, &a, p);
    }

    let argon = argon2::Argon2::default()
        .hash_password(
            b"s3cret",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
    let bcrypt = bcrypt::hash("s3cret", 10).unwrap();
    let value = format!("Basic {}", STANDARD.encode("ops:s3cret"));
    let p = Presented {
        authorization: Some(value.as_bytes()),
        ..Presented::default()
    };
    let users = |hash: &str, ttl| {
        let u = BasicUsers::try_new(vec![("ops".into(), hash.to_owned())], 1024, ttl).unwrap();
        Authenticator::new(Method::Basic(u), Require::default())
    };
    check(
        c,
        "auth_basic_cached",
        &users(&argon, Duration::from_secs(3600)),
        p,
    );
    // A TTL of zero: every check verifies the hash.
    check(
        c,
        "auth_basic_argon2id_uncached",
        &users(&argon, Duration::ZERO),
        p,
    );
    check(
        c,
        "auth_basic_bcrypt10_uncached",
        &users(&bcrypt, Duration::ZERO),
        p,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = auth
}
criterion_main!(benches);
