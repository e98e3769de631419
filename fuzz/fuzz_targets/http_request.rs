//! The back ends' HTTP request parser on arbitrary bytes: a request or a 4xx/5xx refusal, never a
//! panic; a path kept for the log is bounded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mynatap_harness::certification::http_backend::{parse_request, Request};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_request(data, "t0ken");
    assert!(parsed.path.chars().count() <= 256);
    match parsed.request {
        Ok(Request::Crl { .. } | Request::Eligibility { .. }) => assert!(data.starts_with(b"GET /t0ken/") && !parsed.stranger),
        Err(refusal) => assert!((400..600).contains(&refusal.status)),
    }
});
