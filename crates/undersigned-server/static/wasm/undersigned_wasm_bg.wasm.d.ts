/* tslint:disable */
/* eslint-disable */
export const memory: WebAssembly.Memory;
export const check_consistency: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number, number, number];
export const check_cosignatures: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const check_disclosure: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
export const check_inclusion: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number) => [number, number, number, number];
export const compare_keys: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const decrypt_backup: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const decrypt_import: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const encrypt_backup: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const encrypt_export: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const find_entry: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const letter_id: (a: number, b: number) => [number, number, number, number];
export const pick_credentials: (a: number, b: number, c: number, d: number) => [number, number, number, number];
export const pinned_log_key: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number, number, number];
export const present: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number, n: number) => [number, number, number, number];
export const receive_credentials: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number) => [number, number, number, number];
export const request_credentials: (a: number, b: number) => [number, number, number, number];
export const verify_bundle: (a: number, b: number, c: number) => [number, number, number, number];
export const verify_receipt: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number];
export const __wbindgen_exn_store: (a: number) => void;
export const __externref_table_alloc: () => number;
export const __wbindgen_externrefs: WebAssembly.Table;
export const __wbindgen_malloc: (a: number, b: number) => number;
export const __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
export const __wbindgen_free: (a: number, b: number, c: number) => void;
export const __externref_table_dealloc: (a: number) => void;
export const __wbindgen_start: () => void;
