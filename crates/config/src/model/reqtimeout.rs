//! mod_reqtimeout's settings (`RequestReadTimeout`).

/// `RequestReadTimeout`'s stages (a stage with `timeout` 0 is off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestReadTimeout {
    pub header: ReqTimeoutStage,
    pub body: ReqTimeoutStage,
}

/// One stage: `timeout` seconds from its start, extended by one second per
/// `min_rate` bytes received (0: not extended), up to `max_timeout`
/// seconds from its start (0: no bound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReqTimeoutStage {
    pub timeout: u32,
    pub max_timeout: u32,
    pub min_rate: u32,
}
