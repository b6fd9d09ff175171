//! Capture: one tool output on its way to the model. Bytes go to the shaper (what the model sees) and, once the
//! output is large enough to be cut, to a spill entry (what `read_output` and `codebox://output/<id>` return).

use crate::output::Shaper;
use crate::spill::SpillWriter;
use crate::tools::Context;

/// Output up to this size is held in memory; past it, the spill entry is opened and the bytes stream there.
/// Small outputs (most of them) then never create a file.
const PENDING_MAX: usize = 1 << 20;

pub(crate) struct Capture<'c> {
    ctx: &'c Context,
    shaper: Shaper<'c>,
    pending: Vec<u8>,
    writer: Option<SpillWriter>,
    spill_failed: Option<String>,
}

pub(crate) struct Captured {
    pub text: String,
    /// The id under which the full output is kept, when the text had to be cut.
    pub spill_id: Option<String>,
}

impl<'c> Capture<'c> {
    pub(crate) fn new(ctx: &'c Context, budget: usize) -> Capture<'c> {
        Capture {
            ctx,
            shaper: Shaper::with_budget(&ctx.output, budget),
            pending: Vec::new(),
            writer: None,
            spill_failed: None,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.shaper.push(bytes);
        match &mut self.writer {
            Some(w) => w.write(bytes),
            None => {
                self.pending.extend_from_slice(bytes);
                if self.pending.len() > PENDING_MAX {
                    self.open_spill();
                }
            }
        }
    }

    fn open_spill(&mut self) {
        if self.writer.is_some() || self.spill_failed.is_some() {
            return;
        }
        match self.ctx.spill.begin() {
            Ok(mut w) => {
                w.write(&self.pending);
                self.pending = Vec::new();
                self.writer = Some(w);
            }
            Err(e) => self.spill_failed = Some(e.to_string()),
        }
    }

    /// The shaped text; the spill entry is kept only when something was cut.
    pub(crate) fn finish(self) -> Captured {
        self.finish_inner(false)
    }

    /// The shaped text, with the full output always kept (a test run's log is worth reading even when short).
    pub(crate) fn finish_keep(self) -> Captured {
        self.finish_inner(true)
    }

    fn finish_inner(mut self, keep: bool) -> Captured {
        let small = self.writer.is_none() && self.pending.len() <= self.ctx.output.max_chars().min(1000);
        if !small || keep {
            // The marker must name the id, so the entry exists before shaping ends; it is discarded if unused.
            self.open_spill();
        }
        let id = self.writer.as_ref().map(|w| w.id().to_string());
        let rest = |om: &crate::output::Omission| match &id {
            Some(id) => format!("read_output(id=\"{id}\", offset={}, limit={})", om.first_line, om.lines),
            None => "the full output could not be kept".to_string(),
        };
        let shaped = self.shaper.finish(&rest);
        let mut text = shaped.text.clone();
        let mut spill_id = None;
        if (shaped.truncated() || keep)
            && let Some(w) = self.writer.take()
        {
            let info = w.commit();
            if shaped.omitted.is_none() && shaped.truncated() {
                // Only lines were clipped: say where the whole of them is.
                text.push_str(&format!("\n[long lines were clipped; full output: read_output(id=\"{}\")]", info.id));
            }
            if !info.complete() {
                text.push_str(&format!(
                    "\n[only the first {} of {} bytes (lines 1-{}) are kept: read_output returns nothing after line {}]",
                    info.stored_bytes, info.total_bytes, info.lines, info.lines
                ));
            }
            spill_id = Some(info.id);
        } else if shaped.truncated()
            && let Some(e) = &self.spill_failed
        {
            text.push_str(&format!("\n[the full output could not be kept: {e}]"));
        }
        Captured { text, spill_id }
    }
}

/// Shapes a finished text (a listing, a report) to the budget, spilling it when cut.
pub(crate) fn fit(ctx: &Context, text: &str, budget: usize) -> String {
    if text.len() <= budget {
        return text.to_string();
    }
    let mut c = Capture::new(ctx, budget);
    c.push(text.as_bytes());
    c.finish().text
}
