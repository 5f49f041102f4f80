//! What the leader last wrote to the tiles directory, a part of the `Platform`; the writing is
//! `tiles::mirror`.

use std::collections::HashMap;

/// What the leader last wrote to the tiles directory, per letter: the size and note of the
/// checkpoint; and when it last looked.
#[derive(Debug, Default)]
pub struct Mirror {
    #[allow(clippy::type_complexity)]
    pub(crate) written:
        tokio::sync::Mutex<(HashMap<String, (u64, String)>, Option<std::time::Instant>)>,
}
