//! Cost of inspecting a typical clean request (a few headers, a query, a 1 KiB JSON body)
//! at paranoia 1 and 2. `cargo bench -p fulcrum-guard --bench waf`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fulcrum_guard::waf::Waf;

fn body() -> Vec<u8> {
    let mut b = String::from("{\"order\":{\"id\":\"A-1042\",\"customer\":\"O'Brien\",\"items\":[");
    let mut i = 0;
    while b.len() < 1000 {
        b.push_str(&format!(
            "{{\"sku\":\"SKU-{i:04}\",\"name\":\"Blue mug, 350 ml\",\"qty\":{i},\"note\":\"gift wrap please\"}},"
        ));
        i += 1;
    }
    b.pop();
    b.push_str("]}}");
    b.into_bytes()
}

fn inspect(c: &mut Criterion) {
    let headers: [(&[u8], &[u8]); 6] = [
        (b"host", b"shop.example.com"),
        (
            b"user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (b"accept", b"application/json, text/plain, */*"),
        (b"referer", b"https://shop.example.com/cart?step=2"),
        (
            b"cookie",
            b"session=8f2a9c1e7b; theme=dark; _ga=GA1.2.12345.67890",
        ),
        (b"content-type", b"application/json"),
    ];
    let body = body();
    for pl in [1u8, 2] {
        let waf = Waf::new(pl, 64 * 1024);
        c.bench_function(&format!("waf_clean_request_pl{pl}"), |b| {
            b.iter(|| {
                let mut i = waf.inspector();
                let head = i.head(
                    b"POST",
                    black_box(b"/api/v1/orders"),
                    Some(black_box(b"lang=en&currency=EUR&q=blue+mug".as_slice())),
                    headers.iter().copied(),
                );
                let body = i.body(Some(b"application/json"), black_box(&body));
                assert!(head.is_none() && body.is_none());
            })
        });
    }
}

criterion_group!(benches, inspect);
criterion_main!(benches);
