/** Small DOM helpers for the webview (no framework: the app builds its DOM by hand). */

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  children: Child[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  if (props.text !== undefined) element.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  for (const child of children) if (child) element.append(child);
  return element;
}

export function button(label: string, onClick: () => void, options: { className?: string; title?: string } = {}): HTMLButtonElement {
  const element = h('button', { className: options.className ?? 'relay-button', text: label, attrs: { type: 'button' } });
  if (options.title) element.title = options.title;
  element.addEventListener('click', onClick);
  return element;
}

/**
 * Inserts trusted rendered HTML (our own Markdown renderer's output) and applies its
 * deferred inline styles through CSSOM: the CSP forbids style attributes, not CSSOM.
 */
export function setRenderedHtml(target: Element, html: string): void {
  target.innerHTML = html;
  for (const element of target.querySelectorAll<HTMLElement>('[data-relay-style]')) {
    element.style.cssText = element.dataset.relayStyle ?? '';
    element.removeAttribute('data-relay-style');
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, children: Node[] = []): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  for (const child of children) element.append(child);
  return element;
}
