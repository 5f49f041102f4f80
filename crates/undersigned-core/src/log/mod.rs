//! Transparency log for undersigned: an RFC 6962 Merkle log, C2SP signed checkpoints,
//! witness cosignatures (C2SP tlog-cosignature, tlog-witness), signed submission receipts and
//! the shuffled publish batch that ties them together.
//!
//! Everything here is pure computation: callers pass in the time (unix seconds) and a
//! `CryptoRngCore`, so the same code runs on servers, in tests and in wasm clients.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod encoding;

mod checkpoint;
pub mod cosignature;
mod merkle;
mod note;
pub mod origin;
mod pool;
mod receipt;
pub mod tiles;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use cosignature::{
    add_cosignatures, check_add_checkpoint, check_quorum, cosignature_key_id, parse_tlog_size,
    AddCheckpoint, AddCheckpointError, CosignatureError, Cosigned, WitnessRefusal, WitnessSigner,
    WitnessVerifier, MAX_ADD_CHECKPOINT_BYTES,
};
pub use merkle::{
    leaf_hash, verify_consistency, verify_inclusion, ConsistencyProof, Hash, InclusionProof,
    LogError, MerkleLog, EMPTY_ROOT,
};
pub use note::{KeyId, LogSigner, LogVerifier, NoteError};
pub use pool::{PendingEntry, Pool, PoolError, PublishSchedule};
pub use receipt::{issue_receipt, reissue_receipt, verify_receipt, Receipt, ReceiptError};
pub use tiles::{Tile, TileError};
