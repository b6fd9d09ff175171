//! MCP log notifications (`notifications/message`): codebox's own tracing events, forwarded to every session at or
//! above the level its client set with `logging/setLevel` (warning until it sets one).
//!
//! A tracing layer turns each event of a `codebox` module into a `Record` and hands it to every session whose level
//! admits it at that moment; each session runs a task that sends its records to its client, in order. Nothing is
//! formatted unless some session asked for that level, so logging costs a call nothing by default.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::Peer;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// The level a session gets before its client sets one.
pub(crate) const DEFAULT_LEVEL: LoggingLevel = LoggingLevel::Warning;

/// Records a slow client has not taken yet; past this, new ones are dropped for it.
const BACKLOG: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct Record {
    level: LoggingLevel,
    logger: String,
    message: String,
}

/// A session that receives records: its level, and the queue its forwarding task reads.
type Session = (SessionLevel, mpsc::Sender<Arc<Record>>);

static SESSIONS: OnceLock<Mutex<Vec<Session>>> = OnceLock::new();

/// The most verbose level any session has asked for, as `rank`: events below it are not even formatted.
static WANTED: AtomicU8 = AtomicU8::new(rank(DEFAULT_LEVEL));

const fn rank(level: LoggingLevel) -> u8 {
    level as u8
}

fn sessions() -> &'static Mutex<Vec<Session>> {
    SESSIONS.get_or_init(Mutex::default)
}

fn mcp_level(level: &tracing::Level) -> LoggingLevel {
    match *level {
        tracing::Level::ERROR => LoggingLevel::Error,
        tracing::Level::WARN => LoggingLevel::Warning,
        tracing::Level::INFO => LoggingLevel::Info,
        _ => LoggingLevel::Debug,
    }
}

/// The tracing layer that feeds log notifications. Install it next to the stderr logger.
pub fn layer() -> ForwardLayer {
    ForwardLayer
}

pub struct ForwardLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ForwardLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let level = mcp_level(meta.level());
        if !meta.target().starts_with("codebox") || rank(level) < WANTED.load(Ordering::Relaxed) {
            return;
        }
        let Some(sessions) = SESSIONS.get() else { return };
        let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|(_, queue)| !queue.is_closed());
        let mut record = None;
        for (session_level, queue) in sessions.iter() {
            if rank(level) < rank(session_level.get()) {
                continue;
            }
            let record = record
                .get_or_insert_with(|| {
                    let mut text = Text::default();
                    event.record(&mut text);
                    Arc::new(Record { level, logger: meta.target().to_string(), message: text.0 })
                })
                .clone();
            // A client that does not keep up loses records rather than slowing codebox down.
            let _ = queue.try_send(record);
        }
    }
}

/// The event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// One session's log level, shared between its handler (which sets it) and its forwarding task.
#[derive(Clone)]
pub(crate) struct SessionLevel(Arc<Mutex<LoggingLevel>>);

impl Default for SessionLevel {
    fn default() -> Self {
        SessionLevel(Arc::new(Mutex::new(DEFAULT_LEVEL)))
    }
}

impl SessionLevel {
    pub(crate) fn set(&self, level: LoggingLevel) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = level;
        WANTED.fetch_min(rank(level), Ordering::Relaxed);
    }

    fn get(&self) -> LoggingLevel {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sends this session's client, in order, every record emitted at or above its level, until the client goes
/// away.
pub(crate) fn forward(peer: Peer<RoleServer>, level: SessionLevel) {
    let (queue, mut records) = mpsc::channel(BACKLOG);
    sessions().lock().unwrap_or_else(|p| p.into_inner()).push((level, queue));
    tokio::spawn(async move {
        while let Some(record) = records.recv().await {
            let param = LoggingMessageNotificationParam::new(record.level, record.message.clone().into())
                .with_logger(record.logger.clone());
            if peer.is_transport_closed() || peer.notify_logging_message(param).await.is_err() {
                return;
            }
        }
    });
}
