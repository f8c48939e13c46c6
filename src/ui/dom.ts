// Plain DOM helpers shared by the volunteer page and the seed's dashboard (src/dashboard).

/** A `tag` element with `text` and attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attrs: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A list of facts: [name, value, the value's data-testid]. */
export function facts(rows: [string, string, string?][]): HTMLDListElement {
  const dl = el('dl');
  for (const [k, v, id] of rows) dl.append(el('dt', k), el('dd', v, id ? { 'data-testid': id } : {}));
  return dl;
}
