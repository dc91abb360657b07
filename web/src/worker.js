// The model runs here, off the page's thread: decode, preprocess, ONNX Runtime (WebAssembly),
// and the personalised head's training. Messages: init, classify, train, head.
import * as ort from "./ort.wasm.min.mjs";
import { preprocess } from "./preprocess.js";
import { logitsOf, softmax, trainHead } from "./head.js";

let session, config, pre, labels, anchors, personal = null;

async function json(name) {
  const response = await fetch(new URL(name, self.location.href));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.json();
}

async function init() {
  [config, pre, labels] = await Promise.all([json("config.json"), json("preprocess.json"), json("labels.json")]);
  // Everything from this folder, nothing from a CDN; threads only where the page may share memory.
  ort.env.wasm.wasmPaths = new URL("./", self.location.href).href;
  ort.env.wasm.numThreads = config.threads && self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  const model = await (await fetch(new URL(config.model_file, self.location.href))).arrayBuffer();
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const raw = new Float32Array(await (await fetch(new URL(config.anchors.file, self.location.href))).arrayBuffer());
  const dim = config.embedding_size;
  anchors = config.anchors.labels.map((label, i) => ({ label, embedding: raw.subarray(i * dim, (i + 1) * dim) }));
  return { labels, config, threads: ort.env.wasm.numThreads, simd: ort.env.wasm.simd !== false };
}

async function pixelsOf(blob) {
  // Native size, no colour conversion, no premultiplication, no EXIF rotation: Pillow's view of the file.
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none", premultiplyAlpha: "none", imageOrientation: "none",
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { data, width, height };
}

async function classify(blob) {
  const t0 = performance.now();
  const { data, width, height } = await pixelsOf(blob);
  const t1 = performance.now();
  const input = preprocess(data, width, height, pre);
  const [h, w] = pre.image_size;
  const t2 = performance.now();
  const outputs = await session.run({ [config.input]: new ort.Tensor("float32", input, [1, 3, h, w]) });
  const t3 = performance.now();
  const embedding = Float32Array.from(outputs.embedding.data);
  const logits = personal ? logitsOf(personal, embedding) : outputs.logits.data;
  return {
    labels: personal ? personal.labels : labels,
    probabilities: softmax(logits),
    embedding,
    timings: { decode: t1 - t0, preprocess: t2 - t1, inference: t3 - t2 },
  };
}

function base() {
  return { labels, weight: config.head.weight, bias: config.head.bias };
}

self.onmessage = async ({ data: message }) => {
  const { id, type } = message;
  try {
    let result;
    if (type === "init") result = await init();
    else if (type === "classify") result = await classify(message.blob);
    else if (type === "train") {
      const started = performance.now();
      personal = trainHead(base(), [...anchors, ...message.examples], message.options);
      result = { head: personal, seconds: (performance.now() - started) / 1000 };
    } else if (type === "head") {
      personal = message.head; // null: back to the model's own final layer
      result = { labels: personal ? personal.labels : labels };
    } else throw new Error(`unknown message ${type}`);
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: String(error && error.stack ? error.stack : error) });
  }
};
