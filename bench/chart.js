'use strict';
/**
 * bench/results.svg: horizontal bars of median requests/s per variant, labelled with the
 * ratio to bare-replay (the median of the per-round ratios, as in RESULTS.md). No dependencies.
 */

const COLORS = { baseline: '#8a8f98', ours: '#2f6fdf', peer: '#e07b39' };
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `subtitle` and `label(row)` (the text after a bar) replace the bare-replay wording (bench/realistic.js). */
function chart(rows, { title = 'Median requests/s (higher is better)', subtitle, label } = {}) {
  const rowH = 28;
  const labelW = label ? 150 : 130;
  const barMax = 470;
  const width = labelW + barMax + 260;
  const top = 58;
  const height = top + rows.length * rowH + 36;
  const max = Math.max(1, ...rows.filter((r) => r.status === 'ok').map((r) => r.rps));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${labelW}" y="24" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${labelW}" y="42" fill="#555">${escape(subtitle ?? 'ratio = median over rounds of (variant ÷ bare-replay) within the same round')}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${escape(r.name)}</text>`);
    if (r.status !== 'ok') {
      parts.push(`<text x="${labelW + 4}" y="${y + 17}" fill="#b00020" font-style="italic">${escape(r.status)}</text>`);
      return;
    }
    const w = Math.max(1, Math.round((r.rps / max) * barMax));
    const ratio = r.name === 'bare-replay' ? '1.00' : r.vsReplay && r.vsReplay.value !== undefined ? r.vsReplay.value.toFixed(2) : '–';
    parts.push(`<rect x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${COLORS[r.group]}"/>`);
    const text = label ? label(r) : `${Math.round(r.rps).toLocaleString('en-US')} req/s · ${ratio}× bare-replay`;
    parts.push(`<text x="${labelW + w + 6}" y="${y + 17}">${escape(text)}</text>`);
  });
  const legendY = height - 14;
  let x = labelW;
  for (const [group, color] of Object.entries(COLORS)) {
    parts.push(`<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${x + 17}" y="${legendY}">${group}</text>`);
    x += 100;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

module.exports = { chart };
