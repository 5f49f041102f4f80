//! The shared test world: one issuer, a few orgs, credentials and an open letter
//! (`undersigned-testkit`, also the wasm glue's and the fuzz targets' world).

pub use undersigned_testkit::*;
