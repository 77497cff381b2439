// WCAG 2 contrast in the page (test/web-view.test.ts): every visible text against its nearest opaque
// background (4.5:1, 3:1 when large), the map's edges and the focus colour against the map panel (3:1).
// Plain JavaScript read as text and evaluated in the page, so no transpiler helper leaks into it.
(() => {
    const parse = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return undefined;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a >= 0.99) return c; }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const out = [];
    let checked = 0;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent?.trim() || !el.checkVisibility() || el.closest('title')) continue;
      const cs = getComputedStyle(el);
      const inSvg = el instanceof SVGElement;
      const fg = parse(inSvg ? cs.fill : cs.color);
      const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
      const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
      const r = ratio(fg, bgOf(el));
      checked++;
      if (r < need) out.push(`${r.toFixed(2)} < ${need}: "${n.textContent.trim().slice(0, 40)}"`);
    }
    const panel = bgOf(document.querySelector('.map'));
    for (const el of document.querySelectorAll('.edge .line')) {
      const r = ratio(parse(getComputedStyle(el).stroke), panel);
      if (r < 3) out.push(`edge ${el.getAttribute('class')}: ${r.toFixed(2)} < 3`);
    }
    const focus = parse(getComputedStyle(document.documentElement).getPropertyValue('--focus').trim().replace(/^#(..)(..)(..)$/, (_, a, b, c) => `rgb(${parseInt(a, 16)}, ${parseInt(b, 16)}, ${parseInt(c, 16)})`));
    if (ratio(focus, panel) < 3) out.push('focus ring < 3');
    return { out, checked };
})()
