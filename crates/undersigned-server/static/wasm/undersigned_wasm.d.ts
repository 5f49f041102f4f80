/* tslint:disable */
/* eslint-disable */

/**
 * Checks that the new signed checkpoint extends the old one. Returns
 * `{"from": number, "to": number}`.
 */
export function check_consistency(vkey: string, old_note: string, new_note: string, consistency_json: string): string;

/**
 * With witnesses named in the deployment info, refuses a checkpoint without their quorum of
 * valid cosignatures. Returns `[{"name": string, "timestamp": number}]`.
 */
export function check_cosignatures(deployment_json: string, checkpoint_note: string): string;

/**
 * The small-cell guard for the signing form, at the issuer of every credential signed with
 * (`sets_json`: each issuer's sets keyed by its hex id). Returns
 * `{"ok": bool, "reason": string|null, "org_below_k": bool}`.
 */
export function check_disclosure(sets_json: string, credentials_json: string, letter_k: number, role: boolean, age_band: boolean): string;

/**
 * Checks that the receipt's entry is in the tree of a signed checkpoint. Returns
 * `{"index": number, "size": number, "root": hex}`.
 */
export function check_inclusion(receipt_json: string, vkey: string, checkpoint_note: string, inclusion_json: string, letter_id: string): string;

/**
 * Checks every receipt (a JSON array) against the letter's log as everyone reads it: the
 * signed checkpoint and all its level-0 tiles (JSON array of hex bodies, in the order of
 * `leaf_tile_paths`), and that it extends `old_note` when given. Returns `{"size", "root",
 * "entries": [index | null], "consistent_from": number | null}`.
 */
export function check_tiles(receipts_json: string, vkey: string, checkpoint_note: string, tiles_hex_json: string, old_note: string | null | undefined, letter_id: string): string;

/**
 * The bundle's verdict from the JSON array of every share's `verify_bundle_share` outcome:
 * the report (as `verify_bundle` returns it), or an error when the bundle fails or the
 * outcomes do not cover every proof exactly once.
 */
export function combine_shares(outcomes_json: string): string;

/**
 * Compares a bundle's issuer and log keys with the site's `/api/v1/deployment` answer.
 * Returns `{"match": bool, "witnessed": bool, "message": "...", "witness_error": ...}`.
 */
export function compare_keys(bundle_json: string, deployment_json: string): string;

/**
 * Opens a backup (v2, or v1 holding one credential); returns the state JSON.
 */
export function decrypt_backup(backup: string, passphrase: string): string;

/**
 * Opens a backup made by `encrypt_export`; returns the credential JSON.
 */
export function decrypt_import(backup: string, passphrase: string): string;

/**
 * Encrypts the holder's whole state, `{"credentials": [...], "receipts": {letter id: [...]},
 * "checkpoints": {letter id: note}}`, under a passphrase (backup format v2).
 */
export function encrypt_backup(state_json: string, passphrase: string): string;

/**
 * Encrypts the credential under a passphrase for the holder to keep as a backup.
 */
export function encrypt_export(credential_json: string, passphrase: string): string;

/**
 * Finds the entry a receipt names (its entry hash, hex) in a bundle. Returns
 * `{"index": number, "kind": "signature" | "withdrawal" | ..., "withdrawn_by": null | number}`
 * (log indexes from 0, as `undersigned verify` numbers entries). Does not verify the bundle.
 */
export function find_entry(bundle_json: string, entry_hash_hex: string): string;

/**
 * Every level-0 tile of a tree of `size` (from the checkpoint's second line), in order:
 * `[{"path", "full": string|null}]` under `/letters/<id>/`. Fetch them all.
 */
export function leaf_tile_paths(size: number): string;

/**
 * The id (hex) of a letter as its canonical text defines it; compare with the server's.
 */
export function letter_id(letter_json: string): string;

/**
 * Whether `org` has at least `letter_k` credential holders at every issuer whose sets are
 * given (keyed by hex issuer id): asked before the code mail, so the small-organization risk
 * is accepted before the step that cannot be undone.
 */
export function org_at_least(sets_json: string, org: string, letter_k: number): boolean;

/**
 * Of the credentials the holder keeps (a JSON array), the letter's threshold t of them:
 * distinct issuers it accepts, each with the one epoch it accepts, one address. Returns
 * `{"credentials": [...] | null, "threshold", "issuers", "held", "missing": [{"issuer_id",
 * "epochs"}]}`.
 */
export function pick_credentials(credentials_json: string, letter_json: string): string;

/**
 * The letter's log key, accepted only if it is the deployment's log key under this letter's
 * origin. Returns the vkey to use with the receipt and checkpoint checks.
 */
export function pinned_log_key(deployment_json: string, vkey: string, letter_id: string): string;

/**
 * Builds a sign or withdraw entry (the JSON to POST to `/api/v1/letters/<id>/entries`) from
 * the credentials `pick_credentials` chose and each issuer's sets (keyed by hex issuer id).
 */
export function present(credentials_json: string, letter_json: string, action: string, disclose_role: boolean, disclose_age_band: boolean, disclose_email: boolean, comment: string | null | undefined, sets_json: string, consent_small_org: boolean): string;

/**
 * Step 2 of issuance with one issuer: checks each of its blind signatures
 * (`POST <issuer>/api/v1/issuance/credential`) against its key as the letters deployment lists
 * it (`issuer_json`, one element of `issuers` in `GET /api/v1/deployment`) and returns a JSON
 * array of credentials, one per issued epoch.
 */
export function receive_credentials(pending: string, issued_json: string, issuer_json: string, email: string, role: string, age_band: string): string;

/**
 * Step 1 of issuance, for every issuable epoch at once (`epochs_json` is the answer of
 * `GET /api/v1/issuance/epochs`). Returns `{"pending": string, "commitments": [...]}`: send
 * the commitments to the issuer, keep `pending` (in memory) for step 2.
 */
export function request_credentials(epochs_json: string): string;

/**
 * Verifies a bundle offline. Returns the verification report plus a `statement` field.
 */
export function verify_bundle(bundle_json: string, now_secs: number): string;

/**
 * `verify_bundle`, calling `progress(done, total)` after each run of proofs checked (the
 * verify page's worker posts it to the page). The same checks as `verify_bundle`.
 */
export function verify_bundle_observed(bundle_json: string, now_secs: number, progress: Function): string;

/**
 * One worker's share of a bundle's verification: every check, and the proofs of share
 * `index` of `of`, calling `progress(done, total)` for that share's proofs. Returns the
 * share's outcome (JSON); only `combine_shares` over all of them is the verdict.
 */
export function verify_bundle_share(bundle_json: string, now_secs: number, index: number, of: number, progress: Function): string;

/**
 * Checks a submission receipt: signed by `vkey`, for this letter and for exactly this entry.
 */
export function verify_receipt(receipt_json: string, vkey: string, entry_json: string, letter_id: string): void;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly check_consistency: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number, number, number];
    readonly check_cosignatures: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly check_disclosure: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly check_inclusion: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number) => [number, number, number, number];
    readonly check_tiles: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number) => [number, number, number, number];
    readonly combine_shares: (a: number, b: number) => [number, number, number, number];
    readonly compare_keys: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly decrypt_backup: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly decrypt_import: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly encrypt_backup: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly encrypt_export: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly find_entry: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly leaf_tile_paths: (a: number) => [number, number, number, number];
    readonly letter_id: (a: number, b: number) => [number, number, number, number];
    readonly org_at_least: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly pick_credentials: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly pinned_log_key: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number, number, number];
    readonly present: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number, n: number) => [number, number, number, number];
    readonly receive_credentials: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number) => [number, number, number, number];
    readonly request_credentials: (a: number, b: number) => [number, number, number, number];
    readonly verify_bundle: (a: number, b: number, c: number) => [number, number, number, number];
    readonly verify_bundle_observed: (a: number, b: number, c: number, d: any) => [number, number, number, number];
    readonly verify_bundle_share: (a: number, b: number, c: number, d: number, e: number, f: any) => [number, number, number, number];
    readonly verify_receipt: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number];
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
