//! Both HTTP codecs: split at every byte and at random, bounds, refusals,
//! transport error codes, the CORS preflight and the wait policy.

use super::*;
use core::time::Duration;
use proptest::prelude::*;

const T0: Duration = Duration::from_secs(1_780_000_000);

fn packet(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn client() -> HttpClient {
    HttpClient::new("149.154.167.51:80", HttpLimits::default()).unwrap()
}

fn server() -> HttpServer {
    HttpServer::new(HttpLimits::default())
}

/// Feeds `bytes` in pieces of the given sizes (cycled), the rest at the end.
fn pieces<'a>(bytes: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &s in splits.iter().cycle().take(if splits.is_empty() { 0 } else { bytes.len() }) {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(s.clamp(1, rest.len()));
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Packets through a client's requests into a server, answered with
/// `answers`, back through the client; both streams cut by `splits`.
fn round_trip(requests: &[Vec<u8>], answers: &[Vec<u8>], splits: &[usize]) {
    let mut c = client();
    let mut s = server();
    let mut wire = Vec::new();
    for r in requests {
        c.encode_request(r, &mut wire);
    }
    assert_eq!(c.in_flight(), requests.len());
    for piece in pieces(&wire, splits) {
        s.handle_bytes(piece, T0).unwrap();
    }
    let got: Vec<Vec<u8>> = core::iter::from_fn(|| s.poll_packet()).map(|p| p.to_vec()).collect();
    let sent: Vec<Vec<u8>> = requests.iter().filter(|r| !r.is_empty()).cloned().collect();
    assert_eq!(got, sent);
    assert_eq!(s.pending_requests(), requests.len());
    for a in answers {
        s.queue_packet(a.clone(), T0).unwrap();
    }
    let mut back = Vec::new();
    while let Some(b) = s.poll_transmit(T0 + WaitPolicy::DEFAULT.max_wait) {
        back.extend(b);
    }
    assert_eq!(s.pending_requests(), 0, "every request answered");
    for piece in pieces(&back, splits) {
        c.handle_bytes(piece).unwrap();
    }
    let responses: Vec<Response> = core::iter::from_fn(|| c.poll_response()).collect();
    assert_eq!(responses.len(), requests.len(), "one response per request");
    for (i, r) in responses.iter().enumerate() {
        match answers.get(i) {
            Some(a) if a.is_empty() => assert_eq!(r, &Response::Empty),
            Some(a) if a.len() == 4 => assert!(matches!(r, Response::TransportError(_))),
            Some(a) => assert_eq!(r, &Response::Packet(a[..].into())),
            None => assert_eq!(r, &Response::Empty),
        }
    }
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.buffered(), 0);
    assert_eq!(s.buffered(), 0);
}

#[test]
fn requests_and_answers_byte_at_a_time() {
    let requests = vec![packet(88, 1), packet(0, 0), packet(1000, 2), packet(24, 3)];
    let answers = vec![packet(120, 9), packet(56, 8)];
    round_trip(&requests, &answers, &[1]);
    round_trip(&requests, &answers, &[]);
}

#[test]
fn the_request_is_post_api_with_host_keep_alive_and_length() {
    let mut c = client();
    let mut out = Vec::new();
    c.encode_request(b"abcd1234", &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("POST /api HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("\r\nHost: 149.154.167.51:80\r\n"));
    assert!(text.contains("\r\nConnection: keep-alive\r\n"));
    assert!(text.ends_with("\r\nContent-Length: 8\r\n\r\nabcd1234"));
    for bad in ["", "a b", "host\r\nX-Evil: 1", &"a".repeat(256)] {
        assert_eq!(HttpClient::new(bad, HttpLimits::default()).unwrap_err(), HttpError::BadHost, "{bad:?}");
    }
}

#[test]
fn responses_carry_the_cors_headers_telegram_sends() {
    let mut s = server();
    s.handle_bytes(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", T0).unwrap();
    s.queue_packet(packet(40, 1), T0).unwrap();
    let text = String::from_utf8_lossy(&s.poll_transmit(T0).unwrap()).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    for h in [
        "Content-Length: 40",
        "Connection: keep-alive",
        "Access-Control-Allow-Origin: *",
        "Access-Control-Allow-Methods: POST, OPTIONS",
        "Access-Control-Allow-Headers: origin, content-type",
        "Access-Control-Max-Age: 1728000",
    ] {
        assert!(text.contains(&format!("\r\n{h}\r\n")), "{h} in {text}");
    }
}

#[test]
fn an_options_preflight_is_answered_with_cors_and_no_body() {
    let mut s = server();
    let preflight = b"OPTIONS /api HTTP/1.1\r\nHost: x\r\nOrigin: https://web.telegram.org\r\n\
Access-Control-Request-Method: POST\r\n\r\n";
    for b in preflight.chunks(1) {
        s.handle_bytes(b, T0).unwrap();
    }
    assert_eq!(s.poll_packet(), None);
    assert_eq!(s.deadline(), Some(Duration::ZERO), "due at once");
    let answer = s.poll_transmit(T0).unwrap();
    let text = String::from_utf8(answer.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text.contains("\r\nAccess-Control-Allow-Methods: POST, OPTIONS\r\n"));
    assert!(text.contains("\r\nContent-Length: 0\r\n"));
    assert!(text.ends_with("\r\n\r\n"), "no body");
    assert_eq!(s.pending_requests(), 0);
    // A browser client reads it as an empty answer.
    let mut c = client();
    c.encode_poll(&mut Vec::new());
    c.handle_bytes(&answer).unwrap();
    assert_eq!(c.poll_response(), Some(Response::Empty));
}

#[test]
fn a_preflight_behind_a_held_post_waits_its_turn() {
    let mut s = server();
    s.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\nOPTIONS /api HTTP/1.1\r\n\r\n", T0).unwrap();
    assert_eq!(s.pending_requests(), 2);
    // The newer request makes the older due now: answers go in order.
    let out = s.poll_transmit(T0).unwrap();
    assert_eq!(s.pending_requests(), 0);
    assert_eq!(String::from_utf8(out).unwrap().matches("HTTP/1.1 200 OK").count(), 2);
}

#[test]
fn other_methods_and_paths_are_refused() {
    let cases: [(&[u8], HttpError); 6] = [
        (b"GET /api HTTP/1.1\r\n\r\n", HttpError::Method),
        (b"PUT /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HttpError::Method),
        (b"POST /apiw1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HttpError::Path),
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HttpError::Path),
        (b"POST /api HTTP/1.1\r\n\r\n", HttpError::MissingContentLength),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HttpError::Malformed),
    ];
    for (bytes, want) in cases {
        let mut s = server();
        let got = bytes.chunks(1).try_for_each(|b| s.handle_bytes(b, T0)).unwrap_err();
        assert_eq!(got, want, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(s.handle_bytes(b"POST /api HTTP/1.1\r\n", T0), Err(want), "stays failed");
        assert_eq!(s.error(), Some(want));
        let refusal = String::from_utf8(HttpServer::refusal(&want)).unwrap();
        assert!(refusal.starts_with(&format!("HTTP/1.1 {} ", want.status())), "{refusal}");
        assert!(refusal.contains("\r\nConnection: close\r\n"));
    }
}

#[test]
fn bad_lengths_and_transfer_codings_are_refused() {
    let cases: [(&str, HttpError); 5] = [
        ("Content-Length: 12x", HttpError::BadContentLength),
        ("Content-Length: -1", HttpError::BadContentLength),
        ("Content-Length: 4\r\nContent-Length: 5", HttpError::BadContentLength),
        ("Content-Length: 99999999999999999999999", HttpError::BadContentLength),
        ("Transfer-Encoding: chunked", HttpError::TransferEncoding),
    ];
    for (header, want) in cases {
        let mut s = server();
        let req = format!("POST /api HTTP/1.1\r\n{header}\r\n\r\n");
        assert_eq!(s.handle_bytes(req.as_bytes(), T0), Err(want), "{header}");
        let mut c = client();
        c.encode_poll(&mut Vec::new());
        let resp = format!("HTTP/1.1 200 OK\r\n{header}\r\n\r\n");
        assert_eq!(c.handle_bytes(resp.as_bytes()), Err(want), "{header}");
    }
}

#[test]
fn oversize_heads_are_refused_at_the_limit() {
    let limits = HttpLimits { max_head: 256, ..HttpLimits::default() };
    let mut s = HttpServer::new(limits);
    let mut long = b"POST /api HTTP/1.1\r\nX-Pad: ".to_vec();
    long.resize(10_000, b'a');
    let err = long.chunks(7).try_for_each(|b| s.handle_bytes(b, T0)).unwrap_err();
    assert_eq!(err, HttpError::HeadTooLarge { max: 256 });
    let mut s = HttpServer::new(limits);
    assert_eq!(s.handle_bytes(&long, T0), Err(HttpError::HeadTooLarge { max: 256 }), "in one piece too");
    let mut c = HttpClient::new("h", limits).unwrap();
    c.encode_poll(&mut Vec::new());
    let mut resp = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    resp.resize(300, b'a');
    assert_eq!(c.handle_bytes(&resp), Err(HttpError::HeadTooLarge { max: 256 }));
    // Too many headers.
    let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut s = server();
    let req = format!("POST /api HTTP/1.1\r\n{many}Content-Length: 0\r\n\r\n");
    assert_eq!(s.handle_bytes(req.as_bytes(), T0), Err(HttpError::TooManyHeaders));
}

#[test]
fn oversize_bodies_are_refused_without_buffering_them() {
    let limits = HttpLimits { max_body: 1 << 16, ..HttpLimits::default() };
    let mut s = HttpServer::new(limits);
    let req = b"POST /api HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\nxxxx";
    assert_eq!(s.handle_bytes(req, T0), Err(HttpError::BodyTooLarge { len: 1 << 32, max: 1 << 16 }));
    assert_eq!(s.buffered(), 0);
    let mut c = HttpClient::new("h", limits).unwrap();
    c.encode_poll(&mut Vec::new());
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n";
    assert_eq!(c.handle_bytes(resp), Err(HttpError::BodyTooLarge { len: 65537, max: 1 << 16 }));
    // A body at the limit announced but not sent: only what arrived is held.
    let mut s = HttpServer::new(limits);
    s.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 65536\r\n\r\n0123456789", T0).unwrap();
    assert_eq!(s.buffered(), 10);
    assert_eq!(s.poll_packet(), None);
}

#[test]
fn too_many_pending_requests_are_refused() {
    let limits = HttpLimits { max_pending: 3, ..HttpLimits::default() };
    let mut s = HttpServer::new(limits);
    let poll = b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    for _ in 0..3 {
        s.handle_bytes(poll, T0).unwrap();
    }
    assert_eq!(s.handle_bytes(poll, T0), Err(HttpError::TooManyPending { max: 3 }));
}

#[test]
fn queued_packets_are_bounded() {
    let mut s = HttpServer::new(HttpLimits { max_queued: 100, ..HttpLimits::default() });
    s.queue_packet(packet(60, 0), T0).unwrap();
    assert_eq!(s.queue_packet(packet(41, 0), T0), Err(HttpError::QueueFull { max: 100 }));
    s.queue_packet(packet(40, 0), T0).unwrap();
    assert_eq!(s.queued_packets(), 2);
    assert_eq!(s.poll_transmit(T0), None, "no request, no answer");
}

#[test]
fn a_four_byte_body_is_a_transport_error_code() {
    let mut s = server();
    s.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n", T0).unwrap();
    assert!(s.answer_error(-404));
    let out = s.poll_transmit(T0).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 404 "));
    let mut c = client();
    c.encode_poll(&mut Vec::new());
    for b in out.chunks(1) {
        c.handle_bytes(b).unwrap();
    }
    assert_eq!(c.poll_response(), Some(Response::TransportError(-404)));
    // A 200 with a 4-byte body too.
    c.encode_poll(&mut Vec::new());
    c.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x53\xfe\xff\xff").unwrap();
    assert_eq!(c.poll_response(), Some(Response::TransportError(-429)));
}

#[test]
fn other_statuses_and_unasked_responses_are_errors() {
    let mut c = client();
    c.encode_poll(&mut Vec::new());
    let err = c.handle_bytes(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nnope!");
    assert_eq!(err, Err(HttpError::Status { code: 502 }));
    let mut c = client();
    assert_eq!(c.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Err(HttpError::UnexpectedResponse));
    // 100 Continue is skipped.
    let mut c = client();
    c.encode_request(&packet(30, 0), &mut Vec::new());
    c.handle_bytes(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(c.poll_response(), Some(Response::Empty));
    assert_eq!(c.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Err(HttpError::UnexpectedResponse));
    let mut c = client();
    c.encode_poll(&mut Vec::new());
    assert_eq!(c.handle_bytes(b"SSH-2.0-OpenSSH\r\n\r\n"), Err(HttpError::Malformed));
}

#[test]
fn a_held_request_follows_the_wait_policy() {
    let mut s = server();
    s.set_wait(WaitPolicy::from_tl(&crate::tl::schema::HttpWait { max_delay: 50, wait_after: 10, max_wait: 5000 }));
    s.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n", T0).unwrap();
    assert_eq!(s.deadline(), Some(T0 + Duration::from_secs(5)), "nothing due: max_wait");
    assert_eq!(s.poll_transmit(T0 + Duration::from_millis(4999)), None);
    let ms = |m| T0 + Duration::from_millis(m);
    s.queue_packet(packet(32, 1), ms(100)).unwrap();
    assert_eq!(s.deadline(), Some(ms(110)), "wait_after the last");
    s.queue_packet(packet(32, 2), ms(105)).unwrap();
    s.queue_packet(packet(32, 3), ms(140)).unwrap();
    assert_eq!(s.deadline(), Some(ms(150)), "max_delay after the first");
    assert_eq!(s.poll_transmit(ms(149)), None);
    let out = s.poll_transmit(ms(150)).unwrap();
    assert!(out.ends_with(&packet(32, 1)), "one packet per response");
    assert_eq!(s.queued_packets(), 2, "the rest wait for the next request");
    // Nothing waits: an empty 200 when max_wait passes.
    s.set_wait(WaitPolicy::DEFAULT);
    let mut s = server();
    s.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n", T0).unwrap();
    let out = s.poll_transmit(T0 + Duration::from_secs(25)).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("\r\nContent-Length: 0\r\n"));
    assert!(!s.answer_oldest(), "nothing left to answer");
    assert_eq!(s.deadline(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_splits_both_directions(
        sizes in proptest::collection::vec(0usize..600, 1..6),
        answers in proptest::collection::vec(0usize..600, 0..6),
        splits in proptest::collection::vec(1usize..300, 0..40),
    ) {
        let requests: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &s)| packet(s, i as u8)).collect();
        let n = answers.len().min(requests.len());
        let answers: Vec<Vec<u8>> = answers[..n].iter().enumerate().map(|(i, &s)| packet(s, 100 + i as u8)).collect();
        round_trip(&requests, &answers, &splits);
    }

    #[test]
    fn hostile_bytes_never_panic_and_stay_bounded(data in proptest::collection::vec(any::<u8>(), 0..2000), step in 1usize..64) {
        let limits = HttpLimits { max_head: 512, max_body: 1024, ..HttpLimits::default() };
        let mut s = HttpServer::new(limits);
        let mut c = HttpClient::new("h", limits).unwrap();
        c.encode_poll(&mut Vec::new());
        for chunk in data.chunks(step) {
            let _ = s.handle_bytes(chunk, T0);
            let _ = c.handle_bytes(chunk);
            prop_assert!(s.buffered() <= 1024 + 513 && c.buffered() <= 1024 + 513);
        }
    }
}
