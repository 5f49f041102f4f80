// undersigned: the organizer's manage page. The organizer token comes from the fragment (or
// this browser's storage, saved when the letter was created) and goes only in the
// Authorization header.
import { $, api, date, datetime, el, fragment, status, store } from "/static/js/common.js";

const handle = $("#manage").dataset.letter;
const saved = store.get(`organizer.${handle}`) || {};
const token = fragment().organizer || saved.token;
const st = $("#manage-status");

if (token && !saved.token) store.set(`organizer.${handle}`, { ...saved, token });

async function load() {
  if (!token) return status(st, "This page needs the organizer link (it ends in #organizer=…).", "bad");
  let v;
  try {
    v = (await api(`/api/v1/letters/${encodeURIComponent(handle)}`, { token })).data;
  } catch (e) {
    return status(st, e.status === 404 ? "No letter here, or the organizer link is wrong." : e.message, "bad");
  }
  status(st, "");
  $("#manage-body").hidden = false;
  $("#manage-title").textContent = v.letter.title;
  $("#state").textContent = v.state;
  $("#log-size").textContent = String(v.log_size);
  const w = v.witnesses;
  $("#witness-lag").hidden = !w;
  if (w) {
    const who = w.cosigned_by.map((c) => `${c.name} (${date(c.timestamp)})`).join(", ") || "nobody yet";
    $("#witness-lag").textContent =
      `Witnesses: published checkpoint of size ${w.published_size} (quorum ${w.quorum}) cosigned by ${who}` +
      (w.lag_secs > 0 ? `; ${v.log_size - w.published_size} entries have waited ${w.lag_secs} s for the quorum.` : "; up to date.");
  }
  $("#open").hidden = v.state !== "draft";
  $("#close").hidden = v.state !== "open";
  const links = [];
  if (v.letter_id) links.push(el("a", { href: `/letters/${v.letter_id}` }, "Public page"));
  if (saved.signer_token && v.letter_id) {
    links.push(" · signer link (share it with the people who may sign): ");
    links.push(el("code", { class: "hash" }, `${location.origin}/letters/${v.letter_id}#key=${saved.signer_token}`));
  }
  $("#links").replaceChildren(...links);
  const p = v.letter.policy;
  const rows = [
    ["Letter id", v.letter_id || "assigned when opened"],
    ["Visibility", p.visibility],
    ["Organizations", p.orgs.length ? p.orgs.join(", ") : "every organization of the deployment"],
    ["Disclosures", ["role", "age_band", "email"].filter((d) => p.disclosures[d]).join(", ") || "org and epoch only"],
    ["k", String(p.k)],
    ["Deadline", date(p.deadline)],
    ["Publish interval", `${p.publish_interval_secs} s`],
    ["Recipients", v.letter.recipients.map((r) => r.name).join(", ") || "none"],
  ];
  $("#policy").replaceChildren(...rows.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
  if (v.state === "closed") {
    const ds = (await api(`/api/v1/letters/${encodeURIComponent(handle)}/deliveries`, { token })).data;
    $("#deliveries").replaceChildren(
      ds.length === 0 ? el("p", {}, "No recipients.") : el("ul", {}, ...ds.map((d) => el("li", {},
        `${d.recipient}: `,
        d.delivered_at ? `delivered ${datetime(d.delivered_at)}` : `not delivered yet (${d.attempts} attempts${d.last_error ? `, last error: ${d.last_error}` : ""})`,
        d.acknowledged_at ? `; acknowledged ${datetime(d.acknowledged_at)}` : "",
        d.answered_at ? `; answered ${datetime(d.answered_at)}` : "",
        d.revoked ? "; link revoked" : "",
      ))),
    );
  }
}

async function act(what) {
  try {
    await api(`/api/v1/letters/${encodeURIComponent(handle)}/${what}`, { method: "POST", body: {}, token });
    status(st, what === "open" ? "Opened: the text is frozen and signing has started." : "Closed: delivery has started.", "ok");
  } catch (e) {
    status(st, e.message, "bad");
  }
  await load();
}

$("#open").addEventListener("click", () => act("open"));
$("#close").addEventListener("click", () => {
  if (confirm("Close the letter? No more signatures; it is delivered to its recipients.")) act("close");
});
load();
