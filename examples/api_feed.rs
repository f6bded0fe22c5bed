//! A feed reader against a flaky API: `on_start` connects, `on_stop` disconnects, and every
//! `Err` from `cycle` counts as one failure. A timeout now and then stays within the budget
//! (3 failures per 500 ms); when the API goes down, the fourth failure in a row exceeds it
//! and `stop_on_failure` stops the loop.
//!
//! `cargo run --example api_feed`

use std::fmt;
use std::time::{Duration, Instant};

use superloops::prelude::*;
use tracing_subscriber::EnvFilter;

/// An in-process stand-in for a remote API: every 5th call times out, and from the 16th call
/// on it is down.
struct Api {
    calls: u32,
}

#[derive(Debug)]
enum ApiError {
    BadKey,
    Timeout,
    Down,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiError::BadKey => "invalid API key",
            ApiError::Timeout => "request timed out",
            ApiError::Down => "API is down",
        })
    }
}

impl Api {
    fn connect(key: &str) -> Result<Api, ApiError> {
        if key != "secret" {
            return Err(ApiError::BadKey);
        }
        tracing::info!("Connected");
        Ok(Api { calls: 0 })
    }

    fn get_feed(&mut self) -> Result<Vec<String>, ApiError> {
        self.calls += 1;
        match self.calls {
            n if n >= 16 => Err(ApiError::Down),
            n if n % 5 == 0 => Err(ApiError::Timeout),
            n => Ok(vec![format!("item {n}")]),
        }
    }

    fn disconnect(self) {
        tracing::info!(calls = self.calls, "Disconnected");
    }
}

struct ApiFeed {
    key: &'static str,
    api: Option<Api>,
    items: usize,
}

#[superloop(grace = "1s", max_failures = 3, within = "500ms", stop_on_failure)]
impl ApiFeed {
    fn new(key: &'static str) -> Self {
        ApiFeed {
            key,
            api: None,
            items: 0,
        }
    }

    // Err: not started, and the error is logged.
    fn on_start(&mut self) -> Result<(), ApiError> {
        self.api = Some(Api::connect(self.key)?);
        Ok(())
    }

    // After the thread has ended, also when the loop stopped itself.
    fn on_stop(&mut self) {
        if let Some(api) = self.api.take() {
            api.disconnect();
        }
        tracing::info!(items = self.items, "Read");
    }

    fn cycle(&mut self, ctx: &Ctx) -> Result<(), ApiError> {
        // Sleep first, so that a failing call does not make the next one start at once.
        if !ctx.sleep(Duration::from_millis(50)) {
            return Ok(()); // asked to stop
        }
        let api = self.api.as_mut().expect("on_start connected");
        let feed = api.get_feed()?; // Err: logged and counted as one failure
        self.items += feed.len();
        Ok(())
    }
}

fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let wrong = ApiFeed::new("oops").into_loop();
    println!("start() with a wrong key -> {}", wrong.start());

    let feed = ApiFeed::new("secret").into_loop();
    println!("start() -> {}", feed.start());

    // The loop stops itself when the API goes down; watch its failure count meanwhile.
    let deadline = Instant::now() + Duration::from_secs(5);
    while feed.is_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        println!("failures() -> {}", feed.failures());
    }
    println!("{}", feed.status());
}
