// The matforge page: ranked entries from this server's OPTIMADE API.
// Every URL is relative, so the page works under any base URL.
"use strict";

const P = "_matforge_";
const LIST_FIELDS = [
  "id", "chemical_formula_reduced", "chemical_formula_descriptive", "elements",
  P + "kind", P + "storage_score", P + "formation_energy_per_atom",
  P + "formation_energy_dft_per_atom", P + "e_above_hull", P + "is_novel",
  P + "is_stable", P + "known_id", P + "spacegroup_symbol", P + "run_id",
];
const LABELS = {
  chemical_formula_descriptive: "formula (cell)",
  chemical_formula_reduced: "formula (reduced)",
  chemical_formula_anonymous: "formula (anonymous)",
  nsites: "sites", nelements: "elements (number)", elements: "elements",
  elements_ratios: "element fractions", last_modified: "last modified",
  immutable_id: "version id", structure_features: "structure features",
  [P + "kind"]: "kind", [P + "source"]: "source",
  [P + "storage_score"]: "storage score",
  [P + "h_weight_fraction"]: "H weight fraction",
  [P + "formation_energy_per_atom"]: "E form, predicted (eV/atom)",
  [P + "formation_energy_dft_per_atom"]: "E form, DFT (eV/atom)",
  [P + "e_above_hull"]: "E above hull (eV/atom)",
  [P + "decomposition"]: "decomposition",
  [P + "is_stable"]: "stable", [P + "is_novel"]: "novel",
  [P + "known_id"]: "known id", [P + "same_formula"]: "known with this cell formula",
  [P + "same_ratio"]: "known with this reduced formula",
  [P + "run_id"]: "campaign (run id)", [P + "potential"]: "ML potential",
  [P + "spacegroup_symbol"]: "space group", [P + "spacegroup_number"]: "space group number",
  [P + "licence"]: "licence",
};
const HIDDEN = new Set([
  "lattice_vectors", "cartesian_site_positions", "species", "species_at_sites",
  "dimension_types", "nperiodic_dimensions",
]);
const SYMBOL = /^[A-Z][a-z]?$/;

let reports = {};   // run id -> report URL

const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  if (Array.isArray(value)) return value.map((v) => fmt(v, digits)).join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${fmt(v)}`).join(", ");
  return String(value);
}

function num(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  row.appendChild(td);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

// -- the state lives in the URL hash: #/?kind=...&elements=...  or  #/entry/ID --
function readState() {
  const hash = location.hash.replace(/^#\/?/, "");
  if (hash.startsWith("entry/")) return { entry: decodeURIComponent(hash.slice(6)) };
  const params = new URLSearchParams(hash.replace(/^\?/, ""));
  return {
    kind: params.has("kind") ? params.get("kind") : "candidate",
    elements: params.get("elements") || "",
    min_score: params.get("min_score") || "",
    max_ehull: params.get("max_ehull") || "",
    novel: params.get("novel") === "1",
    stable: params.get("stable") === "1",
    sort: params.get("sort") || "-_matforge_storage_score",
    limit: params.get("limit") || "20",
    offset: Number(params.get("offset") || 0),
  };
}

function writeState(state) {
  const params = new URLSearchParams();
  for (const key of ["kind", "elements", "min_score", "max_ehull", "sort", "limit"]) {
    params.set(key, state[key]);
  }
  if (state.novel) params.set("novel", "1");
  if (state.stable) params.set("stable", "1");
  if (state.offset) params.set("offset", String(state.offset));
  location.hash = "#/?" + params.toString();
}

function formState() {
  const form = $("filters");
  return {
    kind: form.kind.value,
    elements: form.elements.value.trim(),
    min_score: form.min_score.value,
    max_ehull: form.max_ehull.value,
    novel: form.novel.checked,
    stable: form.stable.checked,
    sort: form.sort.value,
    limit: form.limit.value,
    offset: 0,
  };
}

function fillForm(state) {
  const form = $("filters");
  form.kind.value = state.kind;
  form.elements.value = state.elements;
  form.min_score.value = state.min_score;
  form.max_ehull.value = state.max_ehull;
  form.novel.checked = state.novel;
  form.stable.checked = state.stable;
  form.sort.value = state.sort;
  form.limit.value = state.limit;
}

// -- the OPTIMADE filter of a state (null and a message when a field is wrong) --
function buildFilter(state) {
  const parts = [];
  if (state.kind) parts.push(`${P}kind="${state.kind}"`);
  if (state.elements) {
    const symbols = state.elements.split(/[\s,]+/).filter(Boolean);
    const bad = symbols.filter((s) => !SYMBOL.test(s));
    if (bad.length) return [null, `not element symbols: ${bad.join(", ")}`];
    parts.push(`elements HAS ALL ${symbols.map((s) => `"${s}"`).join(",")}`);
  }
  if (state.min_score !== "") parts.push(`${P}storage_score>=${Number(state.min_score)}`);
  if (state.max_ehull !== "") parts.push(`${P}e_above_hull<=${Number(state.max_ehull)}`);
  if (state.novel) parts.push(`${P}is_novel=TRUE`);
  if (state.stable) parts.push(`${P}is_stable=TRUE`);
  // an ascending sort puts unknown values first: leave them out of it
  if (state.sort.startsWith(P)) parts.push(`${state.sort} IS KNOWN`);
  return [parts.join(" AND "), null];
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = (body.errors || [])[0] || {};
    throw new Error(`${err.status || response.status} ${err.title || response.statusText}: ${err.detail || ""}`);
  }
  return body;
}

function reportLink(runId) {
  if (!runId) return document.createTextNode("–");
  if (reports[runId]) return link(reports[runId], "report");
  const span = document.createElement("span");
  span.className = "muted";
  span.textContent = runId.slice(0, 10);
  span.title = runId;
  return span;
}

// -- the list -------------------------------------------------------------------
async function showList(state) {
  $("detail").hidden = true;
  $("list").hidden = false;
  fillForm(state);
  const [filter, problem] = buildFilter(state);
  $("filter-text").textContent = filter || "(none: every entry)";
  if (problem) { showError(problem); return; }
  const params = new URLSearchParams({
    sort: state.sort,
    page_limit: state.limit,
    page_offset: String(state.offset),
    response_fields: LIST_FIELDS.join(","),
  });
  if (filter) params.set("filter", filter);
  const url = "structures?" + params.toString();
  $("api-link").href = url;
  let body;
  try {
    body = await getJSON(url);
  } catch (err) {
    showError(err.message);
    return;
  }
  showError("");
  const tbody = $("table").querySelector("tbody");
  tbody.replaceChildren();
  body.data.forEach((entry, i) => {
    const a = entry.attributes;
    const row = document.createElement("tr");
    row.dataset.id = entry.id;
    cell(row, String(state.offset + i + 1), "num");
    cell(row, link("#/entry/" + encodeURIComponent(entry.id), a.chemical_formula_descriptive || a.chemical_formula_reduced));
    cell(row, entry.id);
    cell(row, num(a[P + "storage_score"], 4), "num");
    cell(row, num(a[P + "formation_energy_per_atom"]), "num");
    cell(row, num(a[P + "formation_energy_dft_per_atom"]), "num");
    cell(row, num(a[P + "e_above_hull"]), "num");
    cell(row, fmt(a[P + "is_novel"]), a[P + "is_novel"] ? "yes" : "");
    cell(row, fmt(a[P + "is_stable"]), a[P + "is_stable"] ? "yes" : "");
    cell(row, a[P + "known_id"] || "–");
    cell(row, a[P + "spacegroup_symbol"] || "–");
    cell(row, reportLink(a[P + "run_id"]));
    row.addEventListener("click", (event) => {
      if (event.target.tagName !== "A") location.hash = "#/entry/" + encodeURIComponent(entry.id);
    });
    tbody.appendChild(row);
  });
  const meta = body.meta || {};
  const shown = body.data.length;
  $("summary").textContent = shown
    ? `${state.offset + 1}–${state.offset + shown} of ${meta.data_returned} matching entries (${meta.data_available} served)`
    : `no entry matches (${meta.data_available} served)`;
  $("prev").disabled = state.offset === 0;
  $("next").disabled = !meta.more_data_available;
}

// -- one entry ------------------------------------------------------------------
async function showEntry(id) {
  $("list").hidden = true;
  $("detail").hidden = false;
  const path = "structures/" + encodeURIComponent(id);
  let body;
  try {
    body = await getJSON(path);
  } catch (err) {
    showError(err.message);
    $("detail-title").textContent = id;
    return;
  }
  showError("");
  const a = body.data.attributes;
  const files = "extensions/matforge/structures/" + encodeURIComponent(id);
  $("detail-title").textContent = `${a.chemical_formula_descriptive} · ${id}`;
  $("picture").src = files + ".svg";
  $("cif").href = files + ".cif";
  $("cif").setAttribute("download", `${a.chemical_formula_reduced}_${id}.cif`);
  $("json").href = path;
  const runId = a[P + "run_id"];
  const report = $("detail-report");
  report.replaceChildren();
  if (runId && reports[runId]) report.appendChild(link(reports[runId], "campaign report"));
  const tbody = $("properties").querySelector("tbody");
  tbody.replaceChildren();
  // unset standard properties say nothing; matforge's own unknowns do
  const keys = Object.keys(a).filter(
    (k) => !HIDDEN.has(k) && (k.startsWith(P) || (a[k] !== null && a[k] !== undefined)),
  );
  keys.sort((x, y) => (x.startsWith(P) ? 0 : 1) - (y.startsWith(P) ? 0 : 1));
  for (const key of keys) {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = LABELS[key] || key;
    th.title = key;
    row.appendChild(th);
    const value = a[key];
    cell(row, Array.isArray(value) && !value.length ? "none" : fmt(value, 4));
    tbody.appendChild(row);
  }
  const lattice = document.createElement("tr");
  const th = document.createElement("th");
  th.textContent = "lattice vectors (Å)";
  lattice.appendChild(th);
  cell(lattice, (a.lattice_vectors || []).map((v) => "[" + v.map((x) => x.toFixed(3)).join(", ") + "]").join(" "));
  tbody.appendChild(lattice);
}

// -- wiring ---------------------------------------------------------------------
function route() {
  const state = readState();
  if (state.entry !== undefined) showEntry(state.entry); else showList(state);
}

async function loadReports() {
  try {
    const body = await getJSON("extensions/matforge/reports");
    const nav = $("reports");
    nav.replaceChildren();
    for (const run of body.reports) {
      reports[run.run_id] = run.url;
      const a = link(run.url, `campaign report ${run.run_id.slice(0, 12)}`);
      a.title = `campaign report of run ${run.run_id}`;
      nav.appendChild(a);
      nav.appendChild(document.createTextNode(" "));
    }
  } catch (err) {
    reports = {};
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    writeState(formState());
  });
  $("reset").addEventListener("click", (event) => {
    event.preventDefault();
    location.hash = "#/";
  });
  $("prev").addEventListener("click", () => {
    const state = readState();
    state.offset = Math.max(0, state.offset - Number(state.limit));
    writeState(state);
  });
  $("next").addEventListener("click", () => {
    const state = readState();
    state.offset += Number(state.limit);
    writeState(state);
  });
  window.addEventListener("hashchange", route);
  await loadReports();
  route();
});
