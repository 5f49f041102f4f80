// undersigned: the verify page's worker. It runs the wasm bundle verifier (core's, the same
// code as `undersigned verify`) off the page's main thread, so the page stays responsive, and
// posts how many proofs are checked as it goes. Nothing leaves the device.
import init, { verify_bundle_observed } from "../wasm/undersigned_wasm.js";

self.onmessage = async (ev) => {
  const { text, now } = ev.data;
  try {
    await init({ module_or_path: new URL("../wasm/undersigned_wasm_bg.wasm", import.meta.url) });
    const report = verify_bundle_observed(text, now, (done, total) => self.postMessage({ progress: [done, total] }));
    self.postMessage({ report });
  } catch (e) {
    self.postMessage({ error: e && e.message ? e.message : String(e) });
  }
};
