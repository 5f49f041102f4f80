//! Fuzz target: the browser module's entry points, called natively through the plain Rust
//! functions each `#[wasm_bindgen]` export wraps. The first byte picks a function; the rest is
//! split at 0xFF bytes into its string arguments. `decrypt_import` is left out on purpose:
//! every well-formed backup costs an Argon2 derivation of 64 MiB, which would starve the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_fuzz::split;
use undersigned_wasm::{bundle, issuance, log, sign};

fuzz_target!(|data: &[u8]| {
    let Some((pick, rest)) = data.split_first() else {
        return;
    };
    let parts: Vec<String> = split(rest, 6)
        .into_iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let a = |i: usize| parts.get(i).map(String::as_str).unwrap_or_default();
    let flag = |bit: u8| pick & (1 << bit) != 0;
    match pick % 11 {
        0 => drop(bundle::verify_bundle_at(a(0), 1_800_000_000)),
        1 => drop(bundle::compare_keys(a(0), a(1))),
        2 => drop(log::pinned_log_key(a(0), a(1), a(2))),
        3 => drop(log::verify_receipt(a(0), a(1), a(2), a(3))),
        4 => drop(log::check_inclusion(a(0), a(1), a(2), a(3), a(4))),
        5 => drop(log::check_consistency(a(0), a(1), a(2), a(3))),
        6 => drop(sign::letter_id(a(0))),
        7 => drop(sign::pick_credentials(a(0), a(1))),
        8 => drop(sign::check_disclosure(
            a(0),
            a(1),
            u32::from(pick.rotate_right(4)),
            flag(4),
            flag(5),
        )),
        9 => drop(sign::present(
            a(0),
            a(1),
            a(2),
            sign::Disclose {
                role: flag(4),
                age_band: flag(5),
                email: flag(6),
            },
            (!a(3).is_empty()).then(|| a(3)),
            a(4),
            flag(7),
        )),
        _ => drop(issuance::receive_credentials(
            a(0),
            a(1),
            a(2),
            a(3),
            a(4),
            a(5),
        )),
    }
});
