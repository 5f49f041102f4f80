// undersigned: the organizer's form. Creates the draft over the API, then keeps the
// organizer token in this browser and in the manage page's URL fragment — never in a query
// string, which servers, proxies and browser history sync would record.
import { $, api, status, store } from "./common.js";
import { offerEpochs, readForm, statusOf } from "/static/js/letterform.js";

const form = $("#organize-form");
const st = statusOf(form);
offerEpochs(form);

// Default deadline: four weeks ahead, so the form can be sent as is.
$("#deadline").value = new Date(Date.now() + 28 * 86400_000).toISOString().slice(0, 10);

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const { body, errors } = readForm(form);
  if (errors) return status(st, "");
  try {
    const created = (await api("/api/v1/letters", { method: "POST", body })).data;
    store.set(`organizer.${created.handle}`, { token: created.organizer_token, signer_token: created.signer_token || null });
    location.assign(`/letters/${created.handle}/manage#organizer=${encodeURIComponent(created.organizer_token)}`);
  } catch (e) {
    status(st, e.message, "bad");
  }
});

