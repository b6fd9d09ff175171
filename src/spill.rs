//! STUB: replaced by the real spill store.
#[derive(Debug, Clone)]
pub struct SpillLimits {
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    pub max_entries: usize,
}
impl Default for SpillLimits {
    fn default() -> Self {
        SpillLimits { max_entry_bytes: 256 << 20, max_total_bytes: 1 << 30, max_entries: 64 }
    }
}
pub struct SpillStore;
impl SpillStore {
    pub fn new(_l: SpillLimits) -> Self {
        SpillStore
    }
}
