// undersigned: one of the verify page's workers. It runs its share of the wasm bundle
// verifier (core's, the same code as `undersigned verify`): every check of the bundle, and the
// proofs of its share, off the page's main thread, posting how many of them are checked as it
// goes. The page joins the shares' outcomes with `combine_shares`. Nothing leaves the device.
import init, { verify_bundle_share } from "../wasm/undersigned_wasm.js";

self.onmessage = async (ev) => {
  const { text, now, index, of } = ev.data;
  try {
    await init({ module_or_path: new URL("../wasm/undersigned_wasm_bg.wasm", import.meta.url) });
    const outcome = verify_bundle_share(text, now, index, of, (done, total) => self.postMessage({ progress: [done, total] }));
    self.postMessage({ outcome });
  } catch (e) {
    self.postMessage({ error: e && e.message ? e.message : String(e) });
  }
};
