// Tiny element builders. Text goes in as text nodes only (never innerHTML): names, messages and kernel
// lines come from the cluster and must not become markup.
type Child = Node | string | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined>;

function fill<E extends Element>(el: E, attrs: Attrs, children: Child[]): E {
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] => fill(document.createElement(tag), attrs, children);

export const svg = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): SVGElementTagNameMap[K] => fill(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
