//! Keys generated here (rcgen on aws-lc-rs: Ed25519, P-256, RSA 2048 once per binary),
//! tokens signed by `jsonwebtoken`, checked by the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;

const NOW: u64 = 1_800_000_000;

/// (tag, content, rest) of a DER element.
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
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
    (tag, &input[at..at + len], &input[at + len..])
}

fn strip_zero(b: &[u8]) -> &[u8] {
    match b {
        [0, rest @ ..] => rest,
        _ => b,
    }
}

struct Signer {
    enc: EncodingKey,
    jwk: serde_json::Value,
    alg: Algorithm,
}

fn rsa() -> &'static (Vec<u8>, Vec<u8>) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        (kp.serialize_der(), kp.public_key_raw().to_vec())
    })
}

fn signer(alg: Algorithm, kid: &str) -> Signer {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        Algorithm::HS256 => {
            let secret = format!("secret-of-{kid}-{:016x}", fastrand::u64(..));
            Signer {
                enc: EncodingKey::from_secret(secret.as_bytes()),
                jwk: json!({"kty": "oct", "kid": kid, "k": b64(secret.as_bytes())}),
                alg,
            }
        }
        Algorithm::ES256 => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let raw = kp.public_key_raw();
            Signer {
                enc: EncodingKey::from_ec_der(&kp.serialize_der()),
                jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid,
                            "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}),
                alg,
            }
        }
        Algorithm::EdDSA => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
            Signer {
                enc: EncodingKey::from_ed_der(&kp.serialize_der()),
                jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                            "x": b64(kp.public_key_raw())}),
                alg,
            }
        }
        Algorithm::RS256 => {
            let (pkcs8, public) = rsa();
            // PrivateKeyInfo { version, algorithm, privateKey OCTET STRING (PKCS#1) }
            let (_, info, _) = der(pkcs8);
            let (_, _, rest) = der(info);
            let (_, _, rest) = der(rest);
            let (tag, pkcs1, _) = der(rest);
            assert_eq!(tag, 0x04);
            // RSAPublicKey { modulus, publicExponent }
            let (_, seq, _) = der(public);
            let (_, n, rest) = der(seq);
            let (_, e, _) = der(rest);
            Signer {
                enc: EncodingKey::from_rsa_der(pkcs1),
                jwk: json!({"kty": "RSA", "kid": kid, "n": b64(strip_zero(n)), "e": b64(e)}),
                alg,
            }
        }
        _ => unreachable!(),
    }
}

fn token(s: &Signer, kid: Option<&str>, claims: serde_json::Value) -> String {
    let mut h = Header::new(s.alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, &claims, &s.enc).unwrap()
}

fn claims() -> serde_json::Value {
    json!({"sub": "alice", "iss": "https://id.test/", "aud": ["orders", "other"],
           "exp": NOW + 600, "nbf": NOW - 10, "scope": "orders:read orders:write"})
}

fn verifier(jwks: &[&serde_json::Value], require: Require) -> Authenticator {
    let set = json!({"keys": jwks}).to_string();
    let keys = JwtKeys::parse(&set).unwrap();
    Authenticator::new(
        Method::Jwt(JwtVerifier::new(
            KeySource::Static(keys),
            Some("https://id.test/".into()),
            Some("orders".into()),
            DEFAULT_CLOCK_SKEW,
        )),
        require,
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn check_jwt(a: &Authenticator, t: &str) -> Result<Identity, Failure> {
    let value = bearer(t);
    let p = Presented {
        authorization: Some(value.as_bytes()),
        ..Presented::default()
    };
    a.check(&p, Instant::now(), NOW)
}

#[test]
fn every_algorithm_verifies_and_checks_claims() {
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let s = signer(alg, "k1");
        let a = verifier(&[&s.jwk], Require::default());
        let id = check_jwt(&a, &token(&s, Some("k1"), claims())).unwrap();
        assert_eq!(id.subject, "alice", "{alg:?}");
        assert_eq!(id.claim("iss").as_deref(), Some("https://id.test/"));
        // Without a kid, the key of the token's algorithm is tried.
        check_jwt(&a, &token(&s, None, claims())).unwrap();

        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims();
            f(&mut c);
            check_jwt(&a, &token(&s, Some("k1"), c))
        };
        let unauth = |r: Result<Identity, Failure>, what: &str| match r {
            Err(Failure::Unauthenticated(why)) => assert!(why.contains(what), "{alg:?}: {why}"),
            other => panic!("{alg:?}: expected 401 ({what}), got {other:?}"),
        };
        unauth(with(&|c| c["exp"] = json!(NOW - 61)), "expired");
        with(&|c| c["exp"] = json!(NOW - 30)).unwrap(); // within the skew
        unauth(with(&|c| c["nbf"] = json!(NOW + 61)), "not valid yet");
        unauth(with(&|c| c["iss"] = json!("https://evil.test/")), "issuer");
        unauth(with(&|c| c["aud"] = json!("payments")), "audience");
        with(&|c| c["aud"] = json!("orders")).unwrap();
        unauth(
            check_jwt(&a, &token(&s, Some("k9"), claims())),
            "key id is unknown",
        );

        // A signature by another key of the same kind.
        let other = signer(alg, "k1");
        if alg != Algorithm::RS256 {
            unauth(
                check_jwt(&a, &token(&other, Some("k1"), claims())),
                "signature",
            );
        }
        // A flipped signature byte.
        let t = token(&s, Some("k1"), claims());
        let (body, sig) = t.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[3] ^= 1;
        let forged = format!("{body}.{}", URL_SAFE_NO_PAD.encode(sig));
        unauth(check_jwt(&a, &forged), "");
    }
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    let rs = signer(Algorithm::RS256, "rsa");
    let a = verifier(&[&rs.jwk], Require::default());
    // alg none: header {"alg":"none"}, no signature.
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rsa"})),
        b64(&claims())
    );
    assert!(matches!(
        check_jwt(&a, &none),
        Err(Failure::Unauthenticated(_))
    ));
    // HS256 with the RSA public key's bytes (its JWK's modulus, its DER) as the secret.
    let (_, public) = rsa();
    for secret in [public.as_slice(), rs.jwk["n"].as_str().unwrap().as_bytes()] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rsa".into());
        let t = jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(secret)).unwrap();
        match check_jwt(&a, &t) {
            Err(Failure::Unauthenticated(why)) => assert!(why.contains("algorithm"), "{why}"),
            other => panic!("confusion accepted: {other:?}"),
        }
    }
    // A JWK that names another algorithm than its kind is not used at all.
    let mut mislabelled = signer(Algorithm::HS256, "h").jwk;
    mislabelled["alg"] = json!("RS256");
    assert!(JwtKeys::parse(&json!({"keys": [mislabelled]}).to_string()).is_err());
    assert!(JwtKeys::parse("{\"keys\": []}").is_err());
    assert!(JwtKeys::parse("not json").is_err());
}

#[test]
fn jwt_require_on_claims() {
    let s = signer(Algorithm::EdDSA, "k1");
    let req = |claim: &str, vals: &[&str]| Require {
        claims: vec![(claim.into(), vals.iter().map(|v| v.to_string()).collect())],
        ..Require::default()
    };
    let t = token(&s, Some("k1"), claims());
    let a = verifier(&[&s.jwk], req("scope", &["orders:write"]));
    check_jwt(&a, &t).unwrap();
    let a = verifier(&[&s.jwk], req("scope", &["admin", "orders:read"]));
    check_jwt(&a, &t).unwrap();
    let a = verifier(&[&s.jwk], req("aud", &["other"]));
    check_jwt(&a, &t).unwrap();
    let a = verifier(&[&s.jwk], req("scope", &["orders:delete"]));
    assert!(matches!(check_jwt(&a, &t), Err(Failure::Forbidden(_))));
    let a = verifier(&[&s.jwk], req("sub", &["bob"]));
    assert!(matches!(check_jwt(&a, &t), Err(Failure::Forbidden(_))));
    let a = verifier(&[&s.jwk], req("missing", &["x"]));
    assert!(matches!(check_jwt(&a, &t), Err(Failure::Forbidden(_))));
    // Challenges name the reason without quotes breaking out.
    assert!(a
        .challenge("x\"y")
        .starts_with("Bearer realm=\"fulcrum\", error=\"invalid_token\""));
    assert!(!a.challenge("x\"y").contains("x\"y"));
}

#[test]
fn api_keys_match_by_hash_only() {
    let keys = ApiKeys::new(vec![
        ("ci".into(), api_key::sha256(b"key-one")),
        ("deploy".into(), api_key::sha256(b"key-two")),
    ]);
    let a = Authenticator::new(
        Method::ApiKey(keys),
        Require {
            names: vec!["ci".into()],
            ..Require::default()
        },
    );
    let check = |k: Option<&[u8]>| {
        a.check(
            &Presented {
                api_key: k,
                ..Presented::default()
            },
            Instant::now(),
            NOW,
        )
    };
    assert_eq!(check(Some(b"key-one")).unwrap().subject, "ci");
    assert_eq!(
        check(Some(b"key-two")).unwrap_err(),
        Failure::Forbidden("this identity is not allowed on this route")
    );
    assert!(matches!(
        check(Some(b"key-one ")),
        Err(Failure::Unauthenticated(_))
    ));
    assert!(matches!(check(None), Err(Failure::Unauthenticated(_))));
    assert!(matches!(check(Some(b"")), Err(Failure::Unauthenticated(_))));
}

fn basic_value(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    // Small parameters: the test is about the format and the check, not the cost.
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    a2.hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

#[test]
fn basic_users_with_argon2_and_bcrypt() {
    let argon = argon2_hash("s3cret");
    let bc = bcrypt::hash("hunter2", 4).unwrap();
    assert!(check_password_hash(&argon).is_ok() && check_password_hash(&bc).is_ok());
    assert!(check_password_hash("$argon2id$v=19$nonsense").is_err());
    assert!(check_password_hash("$2b$04$short").is_err());
    assert!(check_password_hash("plain").is_err());
    let users = BasicUsers::try_new(
        vec![("ops".into(), argon), ("dev".into(), bc)],
        DEFAULT_CACHE_CAP,
        DEFAULT_CACHE_TTL,
    )
    .unwrap();
    let a = Authenticator::new(Method::Basic(users), Require::default());
    let check = |v: &str| {
        a.check(
            &Presented {
                authorization: Some(v.as_bytes()),
                ..Presented::default()
            },
            Instant::now(),
            NOW,
        )
    };
    assert_eq!(check(&basic_value("ops", "s3cret")).unwrap().subject, "ops");
    assert_eq!(
        check(&basic_value("dev", "hunter2")).unwrap().subject,
        "dev"
    );
    // The second time comes from the cache, and says the same.
    assert_eq!(check(&basic_value("ops", "s3cret")).unwrap().subject, "ops");
    for bad in [
        basic_value("ops", "wrong"),
        basic_value("dev", "s3cret"),
        basic_value("nobody", "x"),
        "Basic !!!".to_owned(),
        "Bearer abc".to_owned(),
    ] {
        assert!(
            matches!(check(&bad), Err(Failure::Unauthenticated(_))),
            "{bad}"
        );
    }
    match &a.method {
        Method::Basic(u) => assert_eq!(u.cached(), 2),
        _ => unreachable!(),
    }
}

#[test]
fn basic_cache_stays_bounded_and_expires() {
    let hashes: Vec<(String, String)> = (0..10)
        .map(|i| (format!("u{i}"), bcrypt::hash(format!("p{i}"), 4).unwrap()))
        .collect();
    let users = BasicUsers::try_new(hashes, 4, Duration::from_secs(30)).unwrap();
    let t0 = Instant::now();
    for i in 0..200 {
        let v = basic_value(&format!("u{}", i % 10), &format!("wrong{i}"));
        assert!(users.check(Some(v.as_bytes()), t0).is_err());
    }
    assert_eq!(users.cached(), 0, "wrong passwords are never cached");
    for i in 0..10 {
        let v = basic_value(&format!("u{i}"), &format!("p{i}"));
        assert_eq!(
            users.check(Some(v.as_bytes()), t0).unwrap().subject,
            format!("u{i}")
        );
        assert!(users.cached() <= 4);
    }
    assert_eq!(users.cached(), 4);
    // After the TTL, entries are replaced by new ones rather than evicting live ones.
    let later = t0 + Duration::from_secs(31);
    let v = basic_value("u0", "p0");
    users.check(Some(v.as_bytes()), later).unwrap();
    assert_eq!(users.cached(), 1);
}

#[test]
fn mtls_identity_and_require() {
    let cert = Cert {
        subject: "CN=ops,O=Example",
        sans: "DNS:ops.example, URI:spiffe://example/ops",
    };
    let a = Authenticator::new(
        Method::Mtls,
        Require {
            sans: vec!["URI:spiffe://example/ops".into()],
            ..Require::default()
        },
    );
    let p = Presented {
        cert: Some(cert),
        ..Presented::default()
    };
    assert_eq!(
        a.check(&p, Instant::now(), NOW).unwrap().subject,
        "CN=ops,O=Example"
    );
    assert!(matches!(
        a.check(&Presented::default(), Instant::now(), NOW),
        Err(Failure::Unauthenticated(_))
    ));
    let a = Authenticator::new(
        Method::Mtls,
        Require {
            subjects: vec!["CN=admin,O=Example".into()],
            ..Require::default()
        },
    );
    assert!(matches!(
        a.check(&p, Instant::now(), NOW),
        Err(Failure::Forbidden(_))
    ));
}

#[test]
fn a_remote_key_set_is_waited_for_and_asked_again_for_unknown_kids() {
    let s = signer(Algorithm::ES256, "k1");
    let cell = std::sync::Arc::new(JwksCell::new());
    let a = Authenticator::new(
        Method::Jwt(JwtVerifier::new(
            KeySource::Remote(cell.clone()),
            None,
            None,
            DEFAULT_CLOCK_SKEW,
        )),
        Require::default(),
    );
    let t = token(&s, Some("k1"), claims());
    assert_eq!(
        check_jwt(&a, &t).unwrap_err(),
        Failure::Unauthenticated("the key set is not available yet")
    );
    assert!(cell.wanted());
    cell.clear_wanted();
    cell.set(JwtKeys::parse(&json!({"keys": [s.jwk]}).to_string()).unwrap());
    check_jwt(&a, &t).unwrap();
    assert!(!cell.wanted(), "a known kid asks for nothing");
    let other = signer(Algorithm::ES256, "k2");
    assert!(check_jwt(&a, &token(&other, Some("k2"), claims())).is_err());
    assert!(cell.wanted(), "an unknown kid asks for a refresh");
}
