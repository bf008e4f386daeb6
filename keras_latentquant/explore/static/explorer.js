// The latent explorer: one slider per latent; every move asks the decoder (TF Serving's REST predict format)
// for the image of the current latents and draws it.
"use strict";

const state = { model: null, position: [], sampleIndex: 0, pending: null, busy: false, strip: null };
// Milliseconds from each request to its image on the canvas (read by benchmarks/explorer_latency.py).
window.explorerLatencies = [];

// A request that gets no answer in this time is sent again (a busy machine can drop or stall a connection).
const REQUEST_TIMEOUT_MS = 15000;
const REQUEST_ATTEMPTS = 3;

async function fetchJson(url, options = {}) {
  // The JSON answer of `url`; a stalled or failed connection is retried, an HTTP error is not.
  let lastError = null;
  for (let attempt = 1; attempt <= REQUEST_ATTEMPTS; attempt++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(url, { ...options, signal: controller.signal });
      // An error page of a proxy is not JSON; a body that stalls past the timeout is retried like a request.
      const answer = await response.json().catch((error) => {
        if (error.name === "AbortError") throw error;
        return null;
      });
      if (!response.ok) {
        throw Object.assign(new Error((answer && answer.error) || `HTTP ${response.status}`), { http: true });
      }
      if (answer === null) throw Object.assign(new Error(`${url} did not answer JSON`), { http: true });
      return answer;
    } catch (error) {
      if (error.http) throw error;
      const stalled = error.name === "AbortError";
      lastError = stalled ? new Error(`no answer from ${url} in ${REQUEST_TIMEOUT_MS / 1000} s`) : error;
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Error(`${lastError.message} (${REQUEST_ATTEMPTS} attempts); is the explorer server still running?`);
}

async function predict(latentRows) {
  // Codes go to the decoder's default signature; continuous values are its only input too.
  const answer = await fetchJson(`/v1/models/${state.model.decoder}:predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ instances: latentRows }),
  });
  return answer.predictions;
}

function latentsOf(position) {
  // Codes are the slider indices; continuous latents are the values at them.
  return position.map((index, j) => (state.model.kind === "codes" ? index : state.model.slider_values[j][index]));
}

function draw(canvas, images) {
  // images: list of H x W x C nested arrays in [0, 1], drawn side by side.
  const [height, width, channels] = state.model.image_shape;
  canvas.width = width * images.length;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(canvas.width, height);
  images.forEach((image, k) => {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const value = image[y][x];
        const offset = 4 * (y * canvas.width + k * width + x);
        for (let c = 0; c < 3; c++) pixels.data[offset + c] = Math.round(255 * value[channels === 1 ? 0 : c]);
        pixels.data[offset + 3] = 255;
      }
    }
  });
  context.putImageData(pixels, 0, 0);
}

async function update() {
  // One request at a time; a move during a request is sent when it returns (the latest position wins).
  if (state.busy) { state.pending = true; return; }
  state.busy = true;
  const started = performance.now();
  try {
    const latents = latentsOf(state.position);
    const [image] = await predict([latents]);
    const canvas = document.getElementById("image");
    draw(canvas, [image]);
    canvas.dataset.updates = String(Number(canvas.dataset.updates) + 1);
    canvas.dataset.latents = JSON.stringify(latents);
    const elapsed = performance.now() - started;
    window.explorerLatencies.push(elapsed);
    document.getElementById("status").textContent = `decoded in ${elapsed.toFixed(0)} ms`;
    document.getElementById("error").textContent = "";
  } catch (error) {
    document.getElementById("error").textContent = String(error.message || error);
  } finally {
    state.busy = false;
    if (state.pending) { state.pending = false; update(); }
  }
}

async function showStrip(latent) {
  // The decoded images as latent `latent` runs over its slider values, the others held.
  if (state.strip === latent) return;
  state.strip = latent;
  const rows = state.model.slider_values[latent].map((_, index) => {
    const position = state.position.slice();
    position[latent] = index;
    return latentsOf(position);
  });
  try {
    draw(document.getElementById("strip"), await predict(rows));
    document.getElementById("strip-latent").textContent = `z${latent}`;
  } catch (error) {
    document.getElementById("error").textContent = String(error.message || error);
  }
}

function setPosition(position) {
  state.position = position.slice();
  document.querySelectorAll("#sliders input").forEach((slider, j) => {
    slider.value = position[j];
    showValue(j);
  });
  state.strip = null;
  update();
}

function showValue(j) {
  const value = state.model.slider_values[j][state.position[j]];
  const text = state.model.kind === "codes" ? `${state.position[j]}: ${value.toFixed(2)}` : value.toFixed(2);
  document.getElementById(`value-${j}`).textContent = text;
}

function nearestIndex(values, target) {
  let best = 0;
  values.forEach((value, index) => { if (Math.abs(value - target) < Math.abs(values[best] - target)) best = index; });
  return best;
}

function positionOfSample(sample) {
  return sample.latents.map((latent, j) =>
    state.model.kind === "codes" ? latent : nearestIndex(state.model.slider_values[j], latent));
}

function buildSliders() {
  const container = document.getElementById("sliders");
  state.model.slider_values.forEach((values, j) => {
    const label = document.createElement("label");
    label.textContent = `z${j}`;
    label.htmlFor = `latent-${j}`;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", id: `latent-${j}`, min: 0, max: values.length - 1, step: 1 });
    slider.addEventListener("input", () => {
      state.position[j] = Number(slider.value);
      showValue(j);
      state.strip = null;
      update();
    });
    const row = [label, slider];
    for (const [cls, text] of [["value", ""], ["factor", ""]]) {
      const cell = document.createElement("span");
      cell.className = cls;
      cell.textContent = text;
      row.push(cell);
    }
    row[2].id = `value-${j}`;
    const tag = state.model.labels[j];
    row[3].textContent = tag ? `${tag.factor} (NMI ${tag.nmi.toFixed(2)})` : "";
    row.forEach((element) => {
      element.addEventListener("mouseenter", () => showStrip(j));
      container.appendChild(element);
    });
  });
}

function buildHeatmap() {
  const table = document.getElementById("heatmap");
  if (!state.model.nmi) { table.textContent = "no evaluation found for this model"; return; }
  const header = table.insertRow();
  header.appendChild(document.createElement("th"));
  state.model.nmi[0].forEach((_, j) => { const th = document.createElement("th"); th.textContent = `z${j}`; header.appendChild(th); });
  state.model.nmi.forEach((row, i) => {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.textContent = state.model.factor_names[i];
    tr.appendChild(th);
    row.forEach((value) => {
      const td = tr.insertCell();
      td.textContent = value.toFixed(2);
      td.style.background = `rgba(30, 90, 200, ${Math.min(1, value)})`;
      td.style.color = value > 0.5 ? "white" : "black";
    });
  });
}

async function main() {
  state.model = await fetchJson("/api/model");
  document.getElementById("kind").textContent =
    state.model.kind === "codes" ? "(quantized: sliders snap to each latent's codebook)" : "(continuous latents)";
  buildSliders();
  buildHeatmap();
  document.getElementById("random").addEventListener("click", () =>
    setPosition(state.model.slider_values.map((values) => Math.floor(Math.random() * values.length))));
  document.getElementById("reset").addEventListener("click", () => {
    const samples = state.model.samples;
    if (!samples.length) return;
    state.sampleIndex = (state.sampleIndex + 1) % samples.length;
    setPosition(positionOfSample(samples[state.sampleIndex]));
  });
  const first = state.model.samples.length
    ? positionOfSample(state.model.samples[0])
    : state.model.slider_values.map((values) => Math.floor(values.length / 2));
  setPosition(first);
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  // The page cannot work without the model's description: say why, and mark the page as failed (tests wait on it).
  document.getElementById("error").textContent = `Could not start the explorer: ${error.message || error}`;
  document.body.dataset.ready = "error";
});
