//! The CRS regression corpus, in process (no sockets): a quick gauge of the detectors while
//! tuning them. The figure of record is the end-to-end test (`crates/fulcrum/tests/it/waf.rs`).
//! Skipped, loudly, when `../shared/corpora/waf/crs-regression-dev.json` is absent.

use std::collections::BTreeMap;

use super::super::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// (method, target, headers, body) of a case.
fn request(c: &serde_json::Value) -> (Vec<u8>, Vec<u8>, Fields, Vec<u8>) {
    let s = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let headers = c
        .get("headers")
        .and_then(|h| h.as_object())
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.as_bytes().to_vec(),
                        v.as_str().unwrap_or("").as_bytes().to_vec(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        s("method").into(),
        s("uri").into(),
        headers,
        unhex(s("body_hex")),
    )
}

#[test]
fn crs_corpus_in_process() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/waf/crs-regression-dev.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("!!! WAF corpus not found at {}: skipped", path.display());
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("corpus JSON");
    let cases = doc["cases"].as_array().expect("cases");
    let verbose = std::env::var("WAF_CORPUS_VERBOSE").ok();
    for pl in [1u8, 2, 3, 4] {
        let w = Waf::new(pl, 64 * 1024);
        let mut table: BTreeMap<String, [usize; 4]> = BTreeMap::new();
        for c in cases {
            let level = c["paranoia_level"].as_u64().unwrap_or(1) as u8;
            if level > pl || c.get("same_request_as_attack").is_some() {
                continue;
            }
            let attack = c["expect"] == "attack";
            let (method, uri, headers, body) = request(c);
            let (path, query) = match uri.iter().position(|&b| b == b'?') {
                Some(i) => (&uri[..i], Some(&uri[i + 1..])),
                None => (&uri[..], None),
            };
            let query = query.map(|q| q.split(|&b| b == b'#').next().unwrap_or(q));
            let mut ins = w.inspector();
            let ct = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
                .map(|(_, v)| v.as_slice());
            let found = ins
                .head(
                    &method,
                    path,
                    query,
                    headers.iter().map(|(n, v)| (&n[..], &v[..])),
                )
                .or_else(|| ins.body(ct, &body));
            let class = c["class"].as_str().unwrap_or("?").to_string();
            let row = table.entry(class).or_default();
            if attack {
                row[1] += 1;
                row[0] += found.is_some() as usize;
            } else {
                row[3] += 1;
                row[2] += found.is_some() as usize;
            }
            if let Some(v) = &verbose {
                let show = (v == "miss" && attack && found.is_none())
                    || (v == "fp" && !attack && found.is_some());
                if show && pl == 2 && level == 1 {
                    eprintln!(
                        "{} {} {:?} {:?} {:?}",
                        c["id"],
                        String::from_utf8_lossy(&uri),
                        String::from_utf8_lossy(&body[..body.len().min(200)]),
                        found.map(|f| (f.rule, f.excerpt)),
                        c["headers"].get("User-Agent"),
                    );
                }
            }
        }
        let (mut d, mut a, mut fp, mut b) = (0, 0, 0, 0);
        eprintln!("PL{pl}  class     detected        false positives");
        for (class, r) in &table {
            eprintln!(
                "      {class:9} {:4}/{:<4} {:5.1}%  {:3}/{:<4} {:4.1}%",
                r[0],
                r[1],
                pct(r[0], r[1]),
                r[2],
                r[3],
                pct(r[2], r[3])
            );
            d += r[0];
            a += r[1];
            fp += r[2];
            b += r[3];
        }
        eprintln!(
            "      all       {d:4}/{a:<4} {:5.1}%  {fp:3}/{b:<4} {:4.1}%",
            pct(d, a),
            pct(fp, b)
        );
    }
}

fn pct(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d.max(1) as f64
}
