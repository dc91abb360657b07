// A new final layer trained on the backbone's embeddings, in the browser, in a second or two.
//
// The model's own final layer is the starting point: its rows are kept for the classes it knows,
// and a new class's row starts as the mean of its photos' embeddings (scaled like the old rows).
// Then full-batch Adam on softmax cross-entropy over the person's photos plus the anchors the
// export carries (embeddings of a few training images per class, so the old classes keep their
// examples), each class weighted equally, with an L2 pull towards the starting weights so that
// what the model knew moves only as much as the new photos ask.

export function logitsOf(head, embedding) {
  const { weight, bias } = head;
  const out = new Float64Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    let s = 0;
    const row = weight[c];
    for (let d = 0; d < row.length; d++) s += row[d] * embedding[d];
    out[c] = Math.fround(s + bias[c]);
  }
  return out;
}

export function softmax(logits) {
  const top = Math.max(...logits);
  const exp = Array.from(logits, (v) => Math.exp(v - top));
  const total = exp.reduce((a, b) => a + b, 0);
  return Float32Array.from(exp, (v) => v / total);
}

function norm(row) {
  return Math.sqrt(row.reduce((s, v) => s + v * v, 0));
}

// examples: [{label, embedding}] (the person's photos and the anchors); base: {labels, weight, bias}.
export function trainHead(base, examples, { steps = 300, lr = 0.03, pull = 0.1 } = {}) {
  const labels = [...base.labels];
  for (const e of examples) if (!labels.includes(e.label)) labels.push(e.label);
  const dim = base.weight[0].length;
  const oldNorm = base.weight.reduce((s, r) => s + norm(r), 0) / base.weight.length;
  const oldBias = base.bias.reduce((s, b) => s + b, 0) / base.bias.length;
  const start = labels.map((label, c) => {
    if (c < base.labels.length) return { w: Float64Array.from(base.weight[c]), b: base.bias[c] };
    const mine = examples.filter((e) => e.label === label);
    const mean = new Float64Array(dim);
    for (const e of mine) for (let d = 0; d < dim; d++) mean[d] += e.embedding[d] / mine.length;
    const scale = oldNorm / (norm(mean) || 1);
    return { w: mean.map((v) => v * scale), b: oldBias };
  });
  const W = start.map((s) => Float64Array.from(s.w));
  const b = Float64Array.from(start.map((s) => s.b));
  const target = examples.map((e) => labels.indexOf(e.label));
  const perClass = new Map();
  for (const t of target) perClass.set(t, (perClass.get(t) || 0) + 1);
  const sampleWeight = target.map((t) => 1 / (perClass.get(t) * perClass.size));
  // Adam's moments
  const mW = W.map((r) => new Float64Array(r.length));
  const vW = W.map((r) => new Float64Array(r.length));
  const mb = new Float64Array(b.length);
  const vb = new Float64Array(b.length);
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const C = labels.length;
  let loss = 0;
  for (let step = 1; step <= steps; step++) {
    const gW = W.map((r) => new Float64Array(r.length));
    const gb = new Float64Array(C);
    loss = 0;
    for (let i = 0; i < examples.length; i++) {
      const x = examples[i].embedding;
      const z = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        let s = b[c];
        const row = W[c];
        for (let d = 0; d < dim; d++) s += row[d] * x[d];
        z[c] = s;
      }
      const top = Math.max(...z);
      let total = 0;
      for (let c = 0; c < C; c++) total += (z[c] = Math.exp(z[c] - top));
      loss -= sampleWeight[i] * Math.log(z[target[i]] / total);
      for (let c = 0; c < C; c++) {
        const g = sampleWeight[i] * (z[c] / total - (c === target[i] ? 1 : 0));
        gb[c] += g;
        const grow = gW[c];
        for (let d = 0; d < dim; d++) grow[d] += g * x[d];
      }
    }
    const correction1 = 1 - beta1 ** step;
    const correction2 = 1 - beta2 ** step;
    for (let c = 0; c < C; c++) {
      for (let d = 0; d < dim; d++) {
        const g = gW[c][d] + pull * (W[c][d] - start[c].w[d]);
        mW[c][d] = beta1 * mW[c][d] + (1 - beta1) * g;
        vW[c][d] = beta2 * vW[c][d] + (1 - beta2) * g * g;
        W[c][d] -= (lr * mW[c][d]) / correction1 / (Math.sqrt(vW[c][d] / correction2) + eps);
      }
      const g = gb[c] + pull * (b[c] - start[c].b);
      mb[c] = beta1 * mb[c] + (1 - beta1) * g;
      vb[c] = beta2 * vb[c] + (1 - beta2) * g * g;
      b[c] -= (lr * mb[c]) / correction1 / (Math.sqrt(vb[c] / correction2) + eps);
    }
  }
  // float32, as the server's Gemm holds them: the browser and the server then compute alike.
  return {
    labels,
    weight: W.map((row) => Array.from(row, Math.fround)),
    bias: Array.from(b, Math.fround),
    loss,
    steps,
  };
}
