// Preprocessing exactly as the server does it (workbench.ml.predict.OnnxPredictor.preprocess):
// the whole image resized to the model's size with Pillow's bilinear filter (no crop), scaled to
// 0..1, normalised per channel, laid out NCHW. A canvas resize or ort's Tensor.fromImage would
// differ from Pillow when downscaling, so Pillow's two-pass resampler (src/libImaging/Resample.c)
// is reproduced here, integer rounding included: the same pixels give the same bytes.

const PRECISION_BITS = 32 - 8 - 2;

function bilinear(x) {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

// For each output position: the first input index, how many inputs, and their fixed-point weights.
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1); // downscaling widens the filter, as Pillow does
  const support = filterscale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(xmax);
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bilinear((x + xmin - center + 0.5) / filterscale);
      total += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(sum) {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// One pass along x (stride 1) or y (stride width): RGBA in, RGBA out (alpha ignored, set to 255).
function horizontal(src, width, height, outWidth) {
  const { bounds, weights, ksize } = coefficients(width, outWidth);
  const out = new Uint8ClampedArray(outWidth * height * 4);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < height; y++) {
    const row = y * width * 4;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2];
      const n = bounds[xx * 2 + 1];
      let r = half, g = half, b = half;
      for (let x = 0; x < n; x++) {
        const w = weights[xx * ksize + x];
        const at = row + (x + xmin) * 4;
        r += src[at] * w;
        g += src[at + 1] * w;
        b += src[at + 2] * w;
      }
      const o = (y * outWidth + xx) * 4;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
      out[o + 3] = 255;
    }
  }
  return out;
}

function vertical(src, width, height, outHeight) {
  const { bounds, weights, ksize } = coefficients(height, outHeight);
  const out = new Uint8ClampedArray(width * outHeight * 4);
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    for (let x = 0; x < width; x++) {
      let r = half, g = half, b = half;
      for (let y = 0; y < n; y++) {
        const w = weights[yy * ksize + y];
        const at = ((y + ymin) * width + x) * 4;
        r += src[at] * w;
        g += src[at + 1] * w;
        b += src[at + 2] * w;
      }
      const o = (yy * width + x) * 4;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
      out[o + 3] = 255;
    }
  }
  return out;
}

// Pillow's Image.resize(size, BILINEAR) of an RGB image: two passes, each rounded to uint8, each
// skipped when that side keeps its size. Pillow 13 runs the vertical pass first when the height
// shrinks by more than twice what the width does (ImagingResampleInner); the order changes bytes.
export function resizeBilinear(rgba, width, height, outWidth, outHeight) {
  let pixels = rgba;
  if (height - outHeight > 0 && height - outHeight > (width - outWidth) * 2) {
    pixels = vertical(pixels, width, height, outHeight);
    if (outWidth !== width) pixels = horizontal(pixels, width, outHeight, outWidth);
    return pixels;
  }
  if (outWidth !== width) pixels = horizontal(pixels, width, height, outWidth);
  if (outHeight !== height) pixels = vertical(pixels, outWidth, height, outHeight);
  return pixels;
}

// RGBA pixels of the model's size to the float32 NCHW tensor data the model takes.
export function normalise(rgba, width, height, mean, std) {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    // The server computes (x / 255 - mean) / std in float32; Math.fround keeps each step there.
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let i = 0; i < plane; i++) {
      out[c * plane + i] = Math.fround(Math.fround(Math.fround(rgba[i * 4 + c] / 255) - m) / s);
    }
  }
  return out;
}

export function preprocess(rgba, width, height, pre) {
  const [h, w] = pre.image_size;
  return normalise(resizeBilinear(rgba, width, height, w, h), w, h, pre.mean, pre.std);
}
