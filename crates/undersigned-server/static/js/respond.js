// undersigned: a recipient's page. The personal token is the fragment of the mailed link, sent
// only as a bearer header; it lets this recipient acknowledge and answer, nothing else.
import { $, api, datetime, fragment, paragraphs, status } from "/static/js/common.js";

const letter = $("#respond").dataset.letter;
const token = fragment().token || fragment().key;
const st = $("#respond-status");
const base = `/api/v1/letters/${encodeURIComponent(letter)}/respond`;

async function load() {
  if (!token) return status(st, "This page needs your personal response link.", "bad");
  let v;
  try {
    v = (await api(base, { token })).data;
  } catch (e) {
    return status(st, e.status === 401 ? "This response link is not valid (it may have been revoked)." : e.message, "bad");
  }
  status(st, "");
  $("#respond-body").hidden = false;
  $("#respond-title").textContent = v.letter.title;
  const due = v.due_at ? ` · answer due by ${datetime(v.due_at)}` : "";
  $("#respond-meta").textContent = `To ${v.recipient.name}${v.delivered_at ? ` · delivered ${datetime(v.delivered_at)}` : ""}${due}`;
  paragraphs($("#respond-text"), v.letter.body);
  $("#respond-tally").textContent = `${v.tally.signatures} distinct verified signatures from ${v.tally.organizations} organizations.`;
  $("#acknowledge").disabled = !!v.acknowledged_at;
  if (v.acknowledged_at) $("#acknowledge").textContent = `Acknowledged ${datetime(v.acknowledged_at)}`;
  if (v.answered_at) {
    $("#answer-form").hidden = true;
    status($("#respond-result"), `You answered on ${datetime(v.answered_at)}. The answer is in the public record.`, "ok");
  }
}

$("#acknowledge").addEventListener("click", async () => {
  try {
    await api(`${base}/acknowledge`, { method: "POST", body: {}, token });
  } catch (e) {
    status($("#respond-result"), e.message, "bad");
  }
  load();
});

$("#answer-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api(`${base}/answer`, { method: "POST", body: { text: $("#answer").value }, token });
  } catch (e) {
    status($("#respond-result"), e.message, "bad");
  }
  load();
});

load();
