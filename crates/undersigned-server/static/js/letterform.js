// undersigned: the letter's fields, shared by the new-letter page and the draft editor. Reads
// the form into the API's body, fills it from a letter, and checks every field in the page
// before the server does (the server has the last word and its message is shown as is).
import { $, api } from "./common.js";

/** "Name <address>" per line; a line without an address is reported, not guessed. */
export function parseRecipients(text) {
  const out = [];
  const bad = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const m = line.match(/^(.*?)\s*<([^<>\s]+@[^<>\s]+)>$/);
    if (m) out.push({ name: m[1] || m[2], address: m[2] });
    else if (/^[^\s<>]+@[^\s<>]+$/.test(line)) out.push({ name: line, address: line });
    else bad.push(line);
  }
  return { recipients: out, bad };
}

/** Offers the issuable periods; the server still decides. */
export function offerEpochs(form) {
  api("/api/v1/issuance/epochs")
    .then((r) => {
      form.querySelector("#epochs").replaceChildren(...r.data.epochs.map((e) => Object.assign(document.createElement("option"), { value: e })));
      form.querySelector("#epoch").placeholder = `${r.data.current} (this quarter)`;
    })
    .catch(() => {});
}

function field(form, id) {
  return form.querySelector(`#${id}`);
}

/** Marks a field wrong (or right again) and returns the message for the summary. */
function mark(form, id, message) {
  const input = field(form, id);
  const note = form.querySelector(`#${id}-error`);
  input.setAttribute("aria-invalid", message ? "true" : "false");
  if (note) note.textContent = message || "";
  return message;
}

/** The API body from the form, or the list of what is wrong (shown at the top of the form). */
export function readForm(form) {
  const errors = [];
  const f = (id) => field(form, id);
  if (!f("title").value.trim()) errors.push(["title", "Enter a title"]);
  if (!f("body").value.trim()) errors.push(["body", "Enter the letter's text"]);
  const { recipients, bad } = parseRecipients(f("recipients").value);
  const recipientError = bad.length ? `Give each recipient an address, like Name <name@example.org>: ${bad.join("; ")}` : "";
  if (recipientError) errors.push(["recipients", recipientError]);
  mark(form, "recipients", recipientError);
  const deadlineDay = f("deadline").value;
  const deadline = deadlineDay ? Math.floor(new Date(`${deadlineDay}T23:59:59Z`).getTime() / 1000) : NaN;
  const deadlineError = !deadlineDay ? "Enter the last day for signatures" : deadline <= Date.now() / 1000 ? "The last day for signatures must be in the future" : "";
  if (deadlineError) errors.push(["deadline", deadlineError]);
  mark(form, "deadline", deadlineError);
  const k = Number(f("k").value);
  const minK = Number(form.dataset.defaultK);
  if (!Number.isInteger(k) || k < minK) errors.push(["k", `The smallest role or age group shown must be a whole number, at least ${minK}`]);
  const interval = Number(f("interval").value);
  if (!Number.isInteger(interval) || interval < 1 || interval > 86400) errors.push(["interval", "The publish interval must be 1 to 86400 seconds"]);
  const days = Number(f("response-days").value);
  if (!Number.isInteger(days) || days < 1 || days > 3650) errors.push(["response-days", "The answer period must be 1 to 3650 days"]);
  const summary = form.querySelector(".error-summary");
  summary.hidden = errors.length === 0;
  summary.replaceChildren();
  if (errors.length) {
    const list = document.createElement("ul");
    for (const [id, msg] of errors) {
      const a = Object.assign(document.createElement("a"), { href: `#${id}`, textContent: msg });
      const li = document.createElement("li");
      li.append(a);
      list.append(li);
    }
    const h = Object.assign(document.createElement("h2"), { textContent: "There is a problem" });
    summary.append(h, list);
    summary.focus?.();
    return { errors };
  }
  return {
    body: {
      title: f("title").value,
      body: f("body").value,
      recipients,
      response_days: days,
      policy: {
        orgs: f("orgs").value.split(",").map((o) => o.trim()).filter(Boolean),
        disclosures: { role: f("allow-role").checked, age_band: f("allow-age").checked, email: f("allow-email").checked },
        comments: f("allow-comments").checked,
        k,
        deadline,
        visibility: form.querySelector("input[name=visibility]:checked").value,
        publish_interval_secs: interval,
        // Sent as typed (split at commas) so a second period meets the server's rule and its
        // message, rather than being dropped here in silence.
        epochs: f("epoch").value.split(",").map((e) => e.trim()).filter(Boolean),
      },
    },
  };
}

/** Fills the form from a stored letter (the draft editor). */
export function fillForm(form, letter) {
  const f = (id) => field(form, id);
  const p = letter.policy;
  f("title").value = letter.title;
  f("body").value = letter.body;
  f("recipients").value = letter.recipients.map((r) => `${r.name} <${r.address}>`).join("\n");
  f("orgs").value = p.orgs.join(", ");
  f("allow-role").checked = p.disclosures.role;
  f("allow-age").checked = p.disclosures.age_band;
  f("allow-email").checked = p.disclosures.email;
  f("allow-comments").checked = p.comments !== false;
  f("epoch").value = (p.issuers[0] && p.issuers[0].epochs[0]) || "";
  f("k").value = p.k;
  // A past deadline is shown as it is; the form refuses it and says so.
  f("deadline").value = new Date(p.deadline * 1000).toISOString().slice(0, 10);
  f("interval").value = p.publish_interval_secs;
  f("response-days").value = letter.response_days;
  const radio = form.querySelector(`input[name=visibility][value=${p.visibility}]`);
  if (radio) radio.checked = true;
}

export const statusOf = (form) => $(`#${form.id}-status`);
