// A small SVG line chart (no library): points [{label, value}], the first and last labels under the axis.

const SVG = "http://www.w3.org/2000/svg";

function node(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

export function lineChart(container, points, { width = 460, height = 150, format = (v) => v.toFixed(0) } = {}) {
  container.replaceChildren();
  const finite = points.filter((p) => Number.isFinite(p.value));
  if (finite.length === 0) return false;
  const pad = { left: 64, right: 10, top: 10, bottom: 22 };
  const values = finite.map((p) => p.value);
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high === low) {
    high += Math.max(1, Math.abs(high) * 0.001);
    low -= Math.max(1, Math.abs(low) * 0.001);
  }
  const x = (i) => pad.left + (finite.length === 1 ? 0.5 : i / (finite.length - 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - low) / (high - low)) * (height - pad.top - pad.bottom);
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "line-chart", role: "img" });
  for (const v of [low, high]) {
    svg.append(node("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid-line" }));
    const label = node("text", { x: pad.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = format(v);
    svg.append(label);
  }
  const path = finite.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  svg.append(node("path", { d: path, class: "series" }));
  finite.forEach((p, i) => {
    const dot = node("circle", { cx: x(i), cy: y(p.value), r: finite.length > 40 ? 1.5 : 3, class: "dot" });
    const tip = node("title", {});
    tip.textContent = `${p.label}: ${format(p.value)}`;
    dot.append(tip);
    svg.append(dot);
  });
  const first = node("text", { x: pad.left, y: height - 6, class: "axis" });
  first.textContent = finite[0].label;
  const last = node("text", { x: width - pad.right, y: height - 6, class: "axis", "text-anchor": "end" });
  last.textContent = finite[finite.length - 1].label;
  svg.append(first, last);
  container.append(svg);
  return true;
}
