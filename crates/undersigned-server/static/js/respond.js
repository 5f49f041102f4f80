// undersigned: a recipient's page. The personal token is the fragment of the mailed link, sent
// only as a bearer header; it lets this recipient acknowledge and answer, nothing else. Both
// acts are public, so the page says so before each, and an answer is previewed and confirmed.
import { $, api, commentList, datetime, el, fragment, serverHtml, status, tallyLine } from "./common.js";

const letter = $("#respond").dataset.letter;
const token = fragment().token || fragment().key;
const st = $("#respond-status");
const result = $("#respond-result");
const base = `/api/v1/letters/${encodeURIComponent(letter)}/respond`;
let view = null;

async function load() {
  if (!token) return status(st, "This page needs your personal response link.", "bad");
  try {
    view = (await api(base, { token })).data;
  } catch (e) {
    return status(st, e.status === 401 ? "This response link is not valid (it may have been revoked)." : e.message, "bad");
  }
  const v = view;
  status(st, "");
  $("#respond-body").hidden = false;
  $("#respond-title").textContent = v.letter.title;
  const due = v.due_at ? ` · please answer by ${datetime(v.due_at)} (${v.letter.response_days} days after delivery, set by the organizer)` : "";
  $("#respond-meta").textContent = `To ${v.recipient.name}${v.delivered_at ? ` · delivered ${datetime(v.delivered_at)}` : ""}${due}`;
  serverHtml($("#respond-text"), v.body_html);
  $("#respond-tally").textContent = `${tallyLine(v.tally)}.`;
  if (v.comments && v.comments.length) {
    $("#respond-comments-section").hidden = false;
    $("#respond-comments").replaceChildren(commentList(v.comments));
  }
  $("#acknowledge").disabled = !!v.acknowledged_at;
  if (v.acknowledged_at) $("#acknowledge").textContent = `Acknowledged ${datetime(v.acknowledged_at)}`;
  const pub = `/letters/${v.letter_id}`;
  if (v.answered_at) {
    $("#answer-panel").hidden = true;
    status(result, `You answered on ${datetime(v.answered_at)}. Your answer is in the public record.`, "ok");
    const link = $("#public-link");
    link.hidden = false;
    link.replaceChildren(el("a", { href: pub }, "See your answer on the letter's page"));
  }
}

$("#acknowledge").addEventListener("click", async () => {
  if (!confirm("Acknowledge receipt? This is public: the letter's page will show that you received it.")) return;
  try {
    await api(`${base}/acknowledge`, { method: "POST", body: {}, token });
    await load();
    status(result, "Receipt acknowledged. The letter's page now shows it.", "ok");
  } catch (e) {
    status(result, e.message, "bad");
  }
});

// Step one: the preview, rendered by the same server-side renderer as the public page.
$("#answer-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("#answer").value;
  if (!text.trim()) return status(result, "Write your answer first.", "bad");
  try {
    const html = (await api("/api/v1/render", { method: "POST", body: { text } })).data.html;
    serverHtml($("#answer-preview"), html);
    $("#answer-form").hidden = true;
    $("#answer-preview-box").hidden = false;
    status(result, "");
    $("#publish-answer").focus();
  } catch (e) {
    status(result, e.message, "bad");
  }
});

$("#edit-answer").addEventListener("click", () => {
  $("#answer-preview-box").hidden = true;
  $("#answer-form").hidden = false;
  $("#answer").focus();
});

// Step two: publish, after the preview.
$("#publish-answer").addEventListener("click", async () => {
  try {
    await api(`${base}/answer`, { method: "POST", body: { text: $("#answer").value }, token });
    $("#answer-preview-box").hidden = true;
    await load();
  } catch (e) {
    status(result, e.message, "bad");
  }
});

load();
