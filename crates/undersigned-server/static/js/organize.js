// undersigned: the organizer's form. Creates the draft over the API, then keeps the
// organizer token in this browser and in the manage page's URL fragment — never in a query
// string, which servers, proxies and browser history sync would record.
import { $, api, status, store } from "/static/js/common.js";

const st = $("#organize-status");

// The epochs a letter may accept: offered, not imposed; the server has the last word.
api("/api/v1/issuance/epochs")
  .then((r) => {
    $("#epochs").replaceChildren(...r.data.epochs.map((e) => Object.assign(document.createElement("option"), { value: e })));
    $("#epoch").placeholder = `${r.data.current} (current)`;
  })
  .catch(() => {});

// Default deadline: four weeks ahead, so the form can be sent as is.
$("#deadline").value = new Date(Date.now() + 28 * 86400_000).toISOString().slice(0, 10);

/** "Name <address>" per line; a bare address is its own name. */
function recipients(text) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = l.match(/^(.*?)\s*<([^>]+)>$/);
      return m ? { name: m[1] || m[2], address: m[2] } : { name: l, address: l };
    });
}

$("#organize-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const deadline = Math.floor(new Date(`${$("#deadline").value}T23:59:59Z`).getTime() / 1000);
  const k = $("#k").value ? Number($("#k").value) : undefined;
  const body = {
    title: $("#title").value,
    body: $("#body").value,
    recipients: recipients($("#recipients").value),
    policy: {
      orgs: $("#orgs").value.split(",").map((o) => o.trim()).filter(Boolean),
      disclosures: { role: $("#allow-role").checked, age_band: $("#allow-age").checked, email: $("#allow-email").checked },
      k,
      deadline,
      visibility: document.querySelector("input[name=visibility]:checked").value,
      publish_interval_secs: Number($("#interval").value),
      // Sent as typed (split at commas) so a second epoch meets the server's rule and its
      // message, rather than being dropped here in silence.
      epochs: $("#epoch").value.split(",").map((e) => e.trim()).filter(Boolean),
    },
  };
  try {
    const created = (await api("/api/v1/letters", { method: "POST", body })).data;
    store.set(`organizer.${created.handle}`, { token: created.organizer_token, signer_token: created.signer_token || null });
    location.assign(`/letters/${created.handle}/manage#organizer=${encodeURIComponent(created.organizer_token)}`);
  } catch (e) {
    status(st, e.message, "bad");
  }
});
