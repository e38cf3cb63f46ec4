//! Recorder settings: a plain value, set once.

use crate::MAX_DATAGRAM_LEN;

/// The smallest datagram budget the recorder works with.
///
/// A datagram must hold the daemon header and one minimal document (about 300 bytes plus the
/// name). A smaller budget is honoured rather than exceeded: the recorder then records and
/// sends nothing, and counts every refused begin.
pub const MIN_BUDGET: usize = 512;

/// How the recorder writes documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// The largest datagram, header included. Default [`MAX_DATAGRAM_LEN`] (65,507, the IPv4
    /// UDP limit); about 1,000 suits small devices. Below [`MIN_BUDGET`] nothing is sent; never
    /// more than the buffer given to the recorder allows.
    pub budget: usize,
    /// Strings without a tighter schema limit are cut to this many characters (default 1,000;
    /// the 250-character schema fields stay at 250 or less).
    pub max_string_chars: usize,
    /// Annotations recorded per trace (default 50, the number X-Ray indexes per trace).
    pub max_annotations: u16,
    /// Keep the query string of `http.request.url` (default `false`: queries often carry
    /// secrets). Kept queries still lose the values of secret keys (`X-Amz-Signature`,
    /// `token`, …; see [`sanitize::url`](crate::model::sanitize::url())).
    pub record_url_query: bool,
    /// Send every subsegment as its own document as soon as it closes (what Lambda needs;
    /// default `false`, which embeds closed subsegments in their parent while they fit).
    pub stream_all: bool,
    /// Write `aws.xray` (SDK name and version, matched sampling rule) on segments (default
    /// `true`).
    pub sdk_block: bool,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            budget: MAX_DATAGRAM_LEN,
            max_string_chars: 1000,
            max_annotations: 50,
            record_url_query: false,
            stream_all: false,
            sdk_block: true,
        }
    }
}

impl RecorderConfig {
    /// The default settings with another datagram budget.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Sets [`RecorderConfig::max_string_chars`].
    pub fn max_string_chars(mut self, chars: usize) -> Self {
        self.max_string_chars = chars;
        self
    }

    /// Sets [`RecorderConfig::max_annotations`].
    pub fn max_annotations(mut self, n: u16) -> Self {
        self.max_annotations = n;
        self
    }

    /// Sets [`RecorderConfig::record_url_query`].
    pub fn record_url_query(mut self, keep: bool) -> Self {
        self.record_url_query = keep;
        self
    }

    /// Sets [`RecorderConfig::stream_all`].
    pub fn stream_all(mut self, stream: bool) -> Self {
        self.stream_all = stream;
        self
    }

    /// Sets [`RecorderConfig::sdk_block`].
    pub fn sdk_block(mut self, on: bool) -> Self {
        self.sdk_block = on;
        self
    }
}
