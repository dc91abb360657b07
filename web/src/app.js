// The page: photos in (picked, dropped, a folder, the camera), labels out; the person's own
// classes taught from a few photos, kept in IndexedDB, exported back to the workbench as head.json.
// The model itself runs in worker.js.

const $ = (selector) => document.querySelector(selector);
const worker = new Worker("worker.js", { type: "module" });
const pending = new Map();
let nextId = 0;

function ask(type, fields = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, type, ...fields }, transfer);
  });
}

worker.onmessage = ({ data }) => {
  const { resolve, reject } = pending.get(data.id);
  pending.delete(data.id);
  data.error ? reject(new Error(data.error)) : resolve(data.result);
};

// -- browser storage: the person's examples and trained head, per model ---------------------------
const store = {
  db: null,
  async open() {
    this.db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("workbench-webapp", 1);
      request.onupgradeneeded = () => request.result.createObjectStore("state");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  },
  async get(key) {
    return new Promise((resolve, reject) => {
      const request = this.db.transaction("state").objectStore("state").get(key);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  },
  async put(key, value) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction("state", "readwrite");
      value === undefined ? tx.objectStore("state").delete(key) : tx.objectStore("state").put(value, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  },
};

const state = { config: null, examples: [], head: null, results: [], last: null };
const key = (what) => `${state.config.model_sha256}:${what}`;

function status(text) {
  $("#status").textContent = text;
}

function percent(p) {
  return `${(100 * p).toFixed(1)} %`;
}

function top(result, k) {
  return Array.from(result.probabilities, (p, i) => [result.labels[i], p]).sort((a, b) => b[1] - a[1]).slice(0, k);
}

async function classifyOne(file) {
  const started = performance.now();
  const result = await ask("classify", { blob: file });
  result.name = file.webkitRelativePath || file.name;
  result.file = file;
  result.timings.total = performance.now() - started;
  return result;
}

async function classify(files) {
  files = files.filter((f) => f.type.startsWith("image/") || /\.(png|jpe?g|gif|webp|bmp)$/i.test(f.name));
  if (!files.length) return status("no images among those files");
  state.results = [];
  status(`classifying ${files.length} image${files.length > 1 ? "s" : ""}…`);
  for (const file of files) state.results.push(await classifyOne(file));
  files.length === 1 ? showOne(state.results[0]) : showTable(state.results);
  status(`${files.length} image${files.length > 1 ? "s" : ""} classified${state.head ? " (your head)" : ""}`);
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
}

function showOne(result) {
  state.last = result;
  $("#table-view").hidden = true;
  $("#one").hidden = false;
  $("#preview").src = URL.createObjectURL(result.file);
  $("#top").replaceChildren(
    ...top(result, 5).map(([label, p]) => {
      const row = document.createElement("li");
      row.innerHTML = `<span class="label"></span><span class="bar"><span></span></span><span class="p"></span>`;
      row.querySelector(".label").textContent = label;
      row.querySelector(".bar span").style.width = percent(p).replace(" ", "");
      row.querySelector(".p").textContent = percent(p);
      return row;
    }),
  );
}

function showTable(results) {
  $("#one").hidden = true;
  $("#table-view").hidden = false;
  $("#results tbody").replaceChildren(
    ...results.map((r) => {
      const row = document.createElement("tr");
      for (const text of [r.name, ...top(r, 3).flatMap(([label, p]) => [label, percent(p)])]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

function csv(results) {
  const quote = (v) => `"${String(v).replaceAll('"', '""')}"`;
  const lines = [["file", "label", "probability", "label_2", "probability_2", "label_3", "probability_3"].join(",")];
  for (const r of results) lines.push([r.name, ...top(r, 3).flatMap(([l, p]) => [l, p.toFixed(6)])].map(quote).join(","));
  return lines.join("\n") + "\n";
}

function download(name, text, type) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
}

// -- dropping files and folders ---------------------------------------------------------------
async function filesOfEntry(entry) {
  if (entry.isFile) return [await new Promise((resolve, reject) => entry.file(resolve, reject))];
  const reader = entry.createReader();
  const files = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return files;
    for (const child of batch) files.push(...(await filesOfEntry(child)));
  }
}

async function dropped(event) {
  event.preventDefault();
  $("#drop").classList.remove("over");
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry()).filter(Boolean);
  const files = entries.length ? (await Promise.all(entries.map(filesOfEntry))).flat() : [...event.dataTransfer.files];
  await classify(files);
}

// -- the camera -------------------------------------------------------------------------------
async function camera() {
  const video = $("#video");
  if (video.srcObject) {
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [video.videoWidth, video.videoHeight];
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    return classify([new File([blob], "camera.png", { type: "image/png" })]);
  }
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  video.hidden = false;
  $("#camera").textContent = "Take the photo";
}

// -- personalising ------------------------------------------------------------------------------
function showExamples() {
  const counts = {};
  for (const e of state.examples) counts[e.label] = (counts[e.label] || 0) + 1;
  $("#examples").textContent = Object.keys(counts).length
    ? Object.entries(counts).map(([label, n]) => `${label}: ${n}`).join(", ")
    : "none yet";
  $("#train").disabled = !state.examples.length;
  $("#export-head").disabled = !state.head;
  $("#reset").disabled = !state.head && !state.examples.length;
  $("#head-state").textContent = state.head
    ? `your head: ${state.head.labels.length} classes (${state.head.labels.join(", ")})`
    : "the model's own head";
  const known = state.head ? state.head.labels : state.config.labels;
  $("#known").replaceChildren(...known.map((l) => Object.assign(document.createElement("option"), { value: l })));
}

async function addExamples(label, files) {
  label = label.trim();
  if (!label) return status("name the class first");
  status(`reading ${files.length} photos of ${label}…`);
  for (const file of files) {
    const { embedding } = await ask("classify", { blob: file });
    state.examples.push({ label, embedding, name: file.name });
  }
  await store.put(key("examples"), state.examples);
  showExamples();
  status(`${files.length} photos of ${label} added: train to use them`);
}

async function correct() {
  if (!state.last) return;
  const label = $("#correction").value.trim();
  if (!label) return status("type the right label first");
  state.examples.push({ label, embedding: state.last.embedding, name: state.last.name });
  await store.put(key("examples"), state.examples);
  showExamples();
  status(`noted: ${state.last.name} is ${label}; train to use it`);
}

async function train() {
  status("training your head…");
  const examples = state.examples.map(({ label, embedding }) => ({ label, embedding }));
  const { head, seconds } = await ask("train", { examples });
  state.head = { ...head, examples: examples.length, trained_at: new Date().toISOString() };
  await store.put(key("head"), state.head);
  showExamples();
  status(`trained in ${seconds.toFixed(2)} s on ${examples.length} photos and ${state.config.anchors.labels.length} stored examples`);
  document.body.dataset.trained = String(Number(document.body.dataset.trained || 0) + 1);
}

async function reset() {
  state.examples = [];
  state.head = null;
  await store.put(key("examples"), undefined);
  await store.put(key("head"), undefined);
  await ask("head", { head: null });
  showExamples();
  status("back to the model's own head; your photos are forgotten");
}

function exportHead() {
  const { labels, weight, bias, examples } = state.head;
  const head = {
    format: "workbench-head/1", parent_model_id: state.config.model_id, parent_sha256: state.config.model_sha256,
    backbone: state.config.source_file, labels, weight, bias, examples,
  };
  download("head.json", JSON.stringify(head), "application/json");
}

// -- start ----------------------------------------------------------------------------------------
async function start() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch((e) => console.warn(e));
  const [info] = await Promise.all([ask("init"), store.open()]);
  state.config = { ...info.config, labels: info.labels };
  document.title = `${state.config.name}: classify photos`;
  $("#name").textContent = state.config.name;
  $("#runtime").textContent = `ONNX Runtime Web, WebAssembly, ${info.threads} thread${info.threads > 1 ? "s" : ""}`;
  state.examples = (await store.get(key("examples"))) || [];
  state.head = (await store.get(key("head"))) || null;
  if (state.head) await ask("head", { head: state.head });
  showExamples();
  status("ready: pick, drop or photograph images");
  document.body.dataset.ready = "1";
}

// Each input is emptied once read: picking the same photos again is a new pick.
const picked = (input) => { const files = [...input.files]; input.value = ""; return files; };
$("#photos").addEventListener("change", (e) => classify(picked(e.target)));
$("#folder").addEventListener("change", (e) => classify(picked(e.target)));
$("#drop").addEventListener("dragover", (e) => { e.preventDefault(); $("#drop").classList.add("over"); });
$("#drop").addEventListener("dragleave", () => $("#drop").classList.remove("over"));
$("#drop").addEventListener("drop", (e) => dropped(e).catch((x) => status(String(x))));
$("#camera").addEventListener("click", () => camera().catch((x) => status(`camera: ${x.message}`)));
$("#csv").addEventListener("click", () => download("predictions.csv", csv(state.results), "text/csv"));
$("#teach").addEventListener("change", (e) => addExamples($("#teach-label").value, picked(e.target)));
$("#correct").addEventListener("click", () => correct());
$("#train").addEventListener("click", () => train().catch((x) => status(String(x))));
$("#reset").addEventListener("click", () => reset());
$("#export-head").addEventListener("click", exportHead);

// What the tests (and a curious person in the console) can read.
window.webapp = { state, ready: start().catch((e) => { status(`failed to start: ${e.message}`); throw e; }), classifyOne };
